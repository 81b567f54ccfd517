"""Build the browser extension for each store: `python build_scripts/build_extension.py`.

One source (`browser-extension/src`, whose manifest is Chromium's) and one version (the
`version` of `browser-extension/package.json`); what differs per browser is written here.
Output: `dist/extension/<browser>/` (load it unpacked) and
`dist/extension/neurocache-<browser>-<version>.zip` (upload it), byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import json
import shutil
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "browser-extension" / "src"
FIREFOX_ID = "extension@neurocache.app"
ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # fixed, so the same source makes the same zip


def version() -> str:
    return json.loads((ROOT / "browser-extension" / "package.json").read_text())["version"]


def manifest_for(browser: str, base: dict, release: str) -> dict:
    manifest = {**base, "version": release}
    if browser == "firefox":  # no service workers in Firefox's MV3: an event page instead
        manifest["background"] = {
            "scripts": [base["background"]["service_worker"]],
            "type": "module",
        }
        manifest["browser_specific_settings"] = {
            "gecko": {
                "id": FIREFOX_ID,
                "strict_min_version": "128.0",
                # addons.mozilla.org asks each add-on what it collects: nothing leaves for us
                "data_collection_permissions": {"required": ["none"]},
            }
        }
    return manifest


def build(browser: str, out: Path) -> Path:
    release = version()
    target = out / browser
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(SOURCE, target)
    base = json.loads((SOURCE / "manifest.json").read_text())
    (target / "manifest.json").write_text(
        json.dumps(manifest_for(browser, base, release), indent=2) + "\n"
    )
    archive = out / f"neurocache-{browser}-{release}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(target).as_posix(), ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, path.read_bytes())
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", choices=("chromium", "firefox"), action="append")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "extension")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for browser in args.browser or ("chromium", "firefox"):
        print(build(browser, args.out))


if __name__ == "__main__":
    main()
