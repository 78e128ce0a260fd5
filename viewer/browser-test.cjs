// Drives the streetcomb web viewer in headless Chromium (Debian's `chromium`, through
// playwright-core) and prints one JSON line of what it saw. Run by the viewer test in
// streetcomb/tests/cli.rs; exits non-zero, saying why, when a step fails.
//
// usage: node browser-test.cjs NODE_MODULES CHROMIUM URL SCREENSHOT.png
// Besides SCREENSHOT.png (the sequence panel) it writes SCREENSHOT-basemap.png (the
// basemap alone), SCREENSHOT-map.png (basemap and data) and SCREENSHOT-frame.png
// (the frame panel).
'use strict';
const path = require('path');
const fs = require('fs');
const os = require('os');

const [nodeModules, chromiumPath, url, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: node browser-test.cjs NODE_MODULES CHROMIUM URL SCREENSHOT.png');
  process.exit(2);
}
const { chromium } = require(path.join(nodeModules, 'playwright-core'));

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'streetcomb-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1200, height: 800 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // WebGL without a GPU: SwiftShader, which recent Chromium only uses when asked.
      '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
    ],
  });
  const result = { tile_requests: 0, tile_responses: {}, external_requests: [], console_errors: [] };
  const page = context.pages()[0] || await context.newPage();
  try {
    const origin = new URL(url).origin;
    page.on('request', r => {
      const u = r.url();
      if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) {
        result.external_requests.push(u);
      }
      if (/\/tiles\/\d+\/\d+\/\d+\.mvt$/.test(u)) result.tile_requests += 1;
    });
    page.on('response', r => {
      if (/\/tiles\/\d+\/\d+\/\d+\.mvt$/.test(r.url())) {
        const s = String(r.status());
        result.tile_responses[s] = (result.tile_responses[s] || 0) + 1;
      }
    });
    page.on('console', m => { if (m.type() === 'error') result.console_errors.push(m.text()); });
    page.on('pageerror', e => result.console_errors.push(String(e)));

    await page.goto(url, { waitUntil: 'load' });
    // Tiles requested, parsed and drawn: rendered features in every data layer, and
    // streets from the basemap under them.
    await page.waitForFunction(() => {
      const m = window.map;
      if (!m || !m.isStyleLoaded() || !m.areTilesLoaded()) return false;
      return ['coverage', 'sequences', 'features', 'roads'].every(
        id => m.queryRenderedFeatures({ layers: [id] }).length > 0);
    }, null, { timeout: 60000, polling: 250 });
    result.rendered = await page.evaluate(() => Object.fromEntries(
      ['coverage', 'sequences', 'frames', 'features', 'roads', 'buildings', 'water'].map(
        id => [id, window.map.queryRenderedFeatures({ layers: [id] }).length])));
    result.zoom = await page.evaluate(() => window.map.getZoom());

    // The basemap alone: the data layers hidden, a picture of the streets.
    const settle = async () => {
      await page.waitForFunction(() => window.map.loaded() && window.map.areTilesLoaded(),
        null, { timeout: 15000 });
      await page.waitForTimeout(300);
    };
    await page.evaluate(() => DATA_LAYERS.forEach(
      id => window.map.setLayoutProperty(id, 'visibility', 'none')));
    await settle();
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-basemap.png') });
    await page.evaluate(() => DATA_LAYERS.forEach(
      id => window.map.setLayoutProperty(id, 'visibility', 'visible')));
    await settle();
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-map.png') });

    // A click on a feature opens its panel, with the frames that saw it.
    const at = await page.evaluate(() => {
      const f = window.map.queryRenderedFeatures({ layers: ['features'] })[0];
      const p = window.map.project(f.geometry.coordinates);
      const r = window.map.getCanvas().getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    });
    await page.mouse.click(at.x, at.y);
    await page.waitForSelector('#feature-info', { timeout: 10000 });
    await page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('#feature-frames img')];
      return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
    }, null, { timeout: 15000 });
    result.feature_title = await page.textContent('#panel-title');
    result.feature_info = (await page.textContent('#feature-info')).trim();
    result.feature_frames = await page.locator('#feature-frames img').count();
    result.feature_boxes = await page.locator('#feature-frames rect').count();

    // A click on a frame opens the frame panel: its blurred image with the
    // detections drawn, and steps along the sequence.
    // Frames are drawn from zoom 14: go close to the middle of a drive.
    await page.evaluate(() => {
      const m = window.map;
      const g = m.queryRenderedFeatures({ layers: ['sequences'] })[0].geometry;
      const line = g.type === 'LineString' ? g.coordinates : g.coordinates[0];
      m.jumpTo({ center: line[Math.floor(line.length / 2)], zoom: 17 });
    });
    await settle();
    const framePt = await page.evaluate(() => {
      const m = window.map;
      const r = m.getCanvas().getBoundingClientRect();
      for (const f of m.queryRenderedFeatures({ layers: ['frames'] })) {
        const p = m.project(f.geometry.coordinates);
        if (p.x < 20 || p.y < 20 || p.x > r.width - 20 || p.y > r.height - 20) continue;
        const box = [[p.x - 5, p.y - 5], [p.x + 5, p.y + 5]];
        if (m.queryRenderedFeatures(box, { layers: ['features'] }).length) continue;
        return { x: r.left + p.x, y: r.top + p.y, id: f.properties.frame_id };
      }
      return null;
    });
    if (!framePt) throw new Error('no clickable frame on screen');
    await page.mouse.click(framePt.x, framePt.y);
    const frameLoaded = () => page.waitForFunction(() => {
      const i = document.querySelector('#frame-shot img');
      return i && i.complete && i.naturalWidth > 0;
    }, null, { timeout: 15000 });
    await frameLoaded();
    result.frame_clicked = framePt.id;
    result.frame_title = await page.textContent('#panel-title');
    result.frame_index = await page.textContent('#frame-index');
    result.frame_boxes = await page.locator('#frame-shot rect').count();
    result.frame_detections = await page.locator('#frame-detections li').count();
    const before = result.frame_title;
    await page.click('#frame-next');
    await page.waitForFunction(t => document.querySelector('#panel-title').textContent !== t,
      before, { timeout: 10000 });
    await frameLoaded();
    result.next_title = await page.textContent('#panel-title');
    result.next_index = await page.textContent('#frame-index');
    await page.keyboard.press('ArrowLeft');
    await page.waitForFunction(t => document.querySelector('#panel-title').textContent === t,
      before, { timeout: 10000 });
    result.back_title = await page.textContent('#panel-title');
    // A dot on the map marks the frame shown.
    result.marker = await page.evaluate(
      () => window.map.queryRenderedFeatures({ layers: ['current-frame'] }).length);
    // The picture: the drive's first frame with detections, so boxes are drawn.
    result.shot_frame = await page.evaluate(async () => {
      const r = await fetch(`/sequences/${encodeURIComponent(current.frame.drive_id)}/frames`);
      const f = (await r.json()).frames.find(f => f.detections > 0);
      if (f) await openFrame(f.frame_id);
      return f ? f.frame_id : null;
    });
    await frameLoaded();
    result.shot_boxes = await page.locator('#frame-shot rect').count();
    await settle();
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-frame.png') });
    const frameId = (await page.textContent('#panel-title')).replace('Frame ', '');

    // The sequence list from the frame panel: every frame as a thumbnail, scrolled to
    // the frame that was open.
    await page.click('text=all frames of this sequence');
    await page.waitForFunction(id => {
      if (!document.querySelector('#panel-title').textContent.startsWith('Sequence')) return false;
      // Frame ids may hold '/' and '.', so look the figure up by id, not by selector.
      const fig = document.getElementById(`frame-${id}`);
      const i = fig && fig.querySelector('img');
      return i && i.complete && i.naturalWidth > 0;
    }, frameId, { timeout: 15000 });
    result.panel_title = await page.textContent('#panel-title');
    result.thumbnails = await page.locator('#frames img').count();
    result.thumbnail_width = await page.evaluate(
      id => document.getElementById(`frame-${id}`).querySelector('img').naturalWidth, frameId);
    await settle();
    await page.screenshot({ path: screenshot });
    console.log(JSON.stringify(result));
  } catch (e) {
    // Say what the page had got to, then fail.
    result.state = await page.evaluate(() => {
      const m = window.map;
      if (!m) return { map: false, body: document.body.innerText.slice(0, 500) };
      return {
        zoom: m.getZoom(), center: m.getCenter(), styleLoaded: m.isStyleLoaded(),
        tilesLoaded: m.areTilesLoaded(),
        rendered: Object.fromEntries(['coverage', 'sequences', 'frames', 'features', 'roads'].map(
          id => [id, m.queryRenderedFeatures({ layers: [id] }).length])),
      };
    }).catch(err => String(err));
    console.error(JSON.stringify(result));
    throw e;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch(e => {
  console.error(`viewer test failed: ${e && e.stack || e}`);
  process.exit(1);
});
