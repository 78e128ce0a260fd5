# Shared by scripts/setup.sh, benches/scripts/lib.sh (the benchmarks) and
# training/plates/setup.sh (sourced; the caller defines `say` and `die`).
#
# Makes (or keeps) the venv $1 with the hash-pinned wheels of requirements file $2 ($3
# names them in messages); the function named $4, given the venv's python, proves the
# venv works. Reinstalls when the requirements changed or the check fails.
pinned_venv() {
    local venv=$1 reqs=$2 what=$3 check=$4 sha
    local stamp="$venv/.streetcomb-requirements.sha256"
    sha=$(sha256sum "$reqs" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$sha" ] || ! "$check" "$venv/bin/python3" >/dev/null 2>&1; then
        say "installing the pinned $what into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
        "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
            --require-hashes --only-binary=:all: -r "$reqs" \
            || die "pip could not install the $what from $reqs (is PyPI reachable? the pinned wheels are for Linux x86_64, CPython 3.11)"
        "$check" "$venv/bin/python3" >&2 || die "the $what installed in $venv does not work"
        echo "$sha" >"$stamp"
    fi
}
