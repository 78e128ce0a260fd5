// Drives the streetcomb web viewer in headless Chromium (Debian's `chromium`, through
// playwright-core) and prints one JSON line of what it saw. Run by the viewer test in
// streetcomb/tests/cli.rs; exits non-zero, saying why, when a step fails.
//
// usage: node browser-test.cjs NODE_MODULES CHROMIUM URL SCREENSHOT.png
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
    // Tiles requested, parsed and drawn: rendered features in every data layer.
    await page.waitForFunction(() => {
      const m = window.map;
      if (!m || !m.isStyleLoaded() || !m.areTilesLoaded()) return false;
      return ['coverage', 'sequences', 'features'].every(
        id => m.queryRenderedFeatures({ layers: [id] }).length > 0);
    }, null, { timeout: 60000, polling: 250 });
    result.rendered = await page.evaluate(() => Object.fromEntries(
      ['coverage', 'sequences', 'frames', 'features'].map(
        id => [id, window.map.queryRenderedFeatures({ layers: [id] }).length])));
    result.zoom = await page.evaluate(() => window.map.getZoom());

    // A click on a feature opens its popup.
    const at = await page.evaluate(() => {
      const f = window.map.queryRenderedFeatures({ layers: ['features'] })[0];
      const p = window.map.project(f.geometry.coordinates);
      const r = window.map.getCanvas().getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    });
    await page.mouse.click(at.x, at.y);
    await page.waitForSelector('.maplibregl-popup-content', { timeout: 10000 });
    result.popup = (await page.textContent('.maplibregl-popup-content')).trim();
    await page.click('.maplibregl-popup-close-button');

    // A click on a sequence (away from features) shows its blurred frames.
    const seqAt = await page.evaluate(() => {
      const m = window.map;
      const r = m.getCanvas().getBoundingClientRect();
      for (const f of m.queryRenderedFeatures({ layers: ['sequences'] })) {
        const lines = f.geometry.type === 'LineString' ? [f.geometry.coordinates] : f.geometry.coordinates;
        for (const line of lines) {
          for (let i = 0; i + 1 < line.length; i++) {
            const a = m.project(line[i]), b = m.project(line[i + 1]);
            const p = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
            if (p.x < 20 || p.y < 20 || p.x > r.width - 20 || p.y > r.height - 20) continue;
            const box = [[p.x - 6, p.y - 6], [p.x + 6, p.y + 6]];
            if (m.queryRenderedFeatures(box, { layers: ['features'] }).length) continue;
            if (!m.queryRenderedFeatures(box, { layers: ['sequences'] }).length) continue;
            return { x: r.left + p.x, y: r.top + p.y, drive: f.properties.drive_id };
          }
        }
      }
      return null;
    });
    if (!seqAt) throw new Error('no clickable sequence on screen');
    await page.mouse.click(seqAt.x, seqAt.y);
    await page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('#frames img')];
      return imgs.length > 0 && imgs.slice(0, 2).every(i => i.complete && i.naturalWidth > 0);
    }, null, { timeout: 15000 });
    result.panel_title = await page.textContent('#panel-title');
    result.thumbnails = await page.locator('#frames img').count();
    result.thumbnail_width = await page.evaluate(() => document.querySelector('#frames img').naturalWidth);
    // Let the map settle after the panel narrowed it, then take the picture.
    await page.waitForFunction(() => window.map.areTilesLoaded(), null, { timeout: 15000 });
    await page.waitForTimeout(300);
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
        rendered: Object.fromEntries(['coverage', 'sequences', 'frames', 'features'].map(
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
