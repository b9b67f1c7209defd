#!/usr/bin/env bash
# Build the collection's HTML docsite from its tarball, as antsibull-docs documents it:
# install the tarball into DEST/collections, `antsibull-docs sphinx-init --use-current`, then the
# generated build.sh (`antsibull-docs collection --use-current` + sphinx-build, warnings fatal).
#
# Usage: .ci/build_docs.sh TARBALL DEST      (HTML in DEST/html; `make docs` does this)
# Env: ANTSIBULL_DOCS_VENV (default .tools/antsibull-docs, made by `make tools`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tarball="$(cd "$(dirname "${1:?usage: .ci/build_docs.sh TARBALL DEST}")" && pwd)/$(basename "$1")"
dest="${2:?usage: .ci/build_docs.sh TARBALL DEST}"
venv="${ANTSIBULL_DOCS_VENV:-$root/.tools/antsibull-docs}"
[[ -x "$venv/bin/antsibull-docs" ]] || { echo "build_docs.sh: no antsibull-docs in $venv (run make tools)" >&2; exit 2; }
export PATH="$venv/bin:$PATH"

rm -rf "$dest" && mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
export ANSIBLE_COLLECTIONS_PATH="$dest/collections"
ansible-galaxy collection install --offline -p "$dest/collections" "$tarball" >/dev/null
mkdir -m 0755 "$dest/sphinx"  # sphinx-init writes only into a directory only its owner can write
antsibull-docs sphinx-init --use-current --fail-on-error --dest-dir "$dest/sphinx" \
  --project overdue.emr --title "overdue.emr" overdue.emr >/dev/null
# No network here but the package registries: Sphinx reads the Ansible docsite's labels from a
# local inventory (.ci/ansible-devel-labels.txt) instead of fetching them; links still point there.
python - "$root/.ci/ansible-devel-labels.txt" "$dest/ansible_devel.inv" <<'PY'
import sys, zlib
rows = [line.split(None, 2) for line in open(sys.argv[1], encoding="utf-8")
        if line.strip() and not line.startswith("#")]
body = "".join(f"{label} std:label -1 {uri} {title.strip()}\n" for label, uri, title in rows)
with open(sys.argv[2], "wb") as inv:
    inv.write(b"# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
              b"# The remainder of this file is compressed using zlib.\n")
    inv.write(zlib.compress(body.encode("utf-8")))
PY
cat >> "$dest/sphinx/conf.py" <<PY
intersphinx_mapping = {
    'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', '$dest/ansible_devel.inv'),
}
PY
(cd "$dest/sphinx" && ./build.sh)
ln -sfn sphinx/build/html "$dest/html"
echo "build_docs.sh: $dest/html/index.html"
