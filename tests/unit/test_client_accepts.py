"""The upload picker of the browser client offers exactly the kinds of files the hub reads."""

from __future__ import annotations

import re

from neurocache.knowledge.loaders import READABLE
from neurocache.web.client import client_dir


def test_the_upload_picker_accepts_what_the_hub_reads():
    source = (client_dir() / "views" / "knowledge.js").read_text()
    listed = re.search(r"const ACCEPT = \[(.*?)\]", source, re.S)
    assert listed is not None
    assert set(re.findall(r'"(\.[a-z0-9]+)"', listed.group(1))) == READABLE
