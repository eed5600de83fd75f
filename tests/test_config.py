"""Stand configs: every shipped one loads; broken ones fail with the file, the key and the line."""

from __future__ import annotations

import glob

import pytest
from conftest import LAB, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.errors import ConfigError
from hil.stand import load_stand, parse_stand

LAB_TEXT = LAB.read_text()


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    n = 0
    exact = needle.endswith("$")
    needle = needle.rstrip("$")
    for i, line in enumerate(text.splitlines(), start=1):
        if (line.strip() == needle) if exact else (needle in line):
            n += 1
            if n == occurrence:
                return i
    raise AssertionError(f"{needle!r} not in text")


@pytest.mark.parametrize("path", sorted(glob.glob(str(ROOT / "configs" / "stands" / "*.toml"))))
def test_shipped_stands_load(path: str) -> None:
    stand = load_stand(path)
    assert stand.channels and stand.sha256 and stand.name


# (description, text transform, expected message, the line the error must name: a substring of
# that line in the broken text, or None when the error has no single line)
BROKEN = [
    ("typo in a top-level table", lambda s: s.replace("[limits]", "[limitz]"), "unknown key 'limitz'", "[limitz]"),
    ("bad register type", lambda s: s.replace('type = "u16"', 'type = "u17"', 1), "must be one of u16, i16, u32, i32, f32, bit; got 'u17'", 'type = "u17"'),
    ("duplicate channel", lambda s: s.replace('name = "p_inj_ox"', 'name = "pc"'), "duplicate channel name 'pc'", 'name = "pc"#2'),
    ("overlapping registers", lambda s: s.replace("register = 17", "register = 16"), "input register 16 is also used by channel 'pc'", "register = 16#2"),
    ("channel in the firmware block", lambda s: s.replace("register = 16", "register = 3"), "input registers 0..15 belong to the firmware protocol", "register = 3"),
    ("actuator in the firmware block", lambda s: s.replace("register = 4\n", "register = 1\n"), "holding registers 0..3 belong to the firmware protocol", "register = 1$"),
    ("zero gain", lambda s: s.replace("gain = 0.01 }", "gain = 0 }", 1), "must not be zero", "gain = 0 }"),
    ("table not increasing", lambda s: s.replace("raw = [0, 2000, 10000, 20000]", "raw = [0, 20000, 10000, 30000]"), "raw points must be strictly increasing", "raw = [0, 20000"),
    ("safing leaves fuel open", lambda s: s.replace("{ at = 0.05, set = { fuel_main = 0, purge = 1 } },", "{ at = 0.05, set = { purge = 1 } },"), "safing must end with fuel_main = 0", None),
    ("safing closes fuel first", lambda s: s.replace("{ at = 0.0, set = { ox_main = 0, igniter = 0 } },\n  { at = 0.05, set = { fuel_main = 0, purge = 1 } },", "{ at = 0.0, set = { fuel_main = 0, igniter = 0 } },\n  { at = 0.05, set = { ox_main = 0, purge = 1 } },"), "close the oxidiser valves before the fuel valves", None),
    ("safing names a ghost", lambda s: s.replace("{ at = 3.05, set = { purge = 0 } },", "{ at = 3.05, set = { vent = 0 } },"), "unknown actuator 'vent'", "vent = 0"),
    ("safing out of order", lambda s: s.replace("{ at = 3.05, set = { purge = 0 } },", "{ at = 0.01, set = { purge = 0 } },"), "safing steps must be in time order", None),
    ("rtu without a device", lambda s: s.replace('kind = "tcp"\nhost', 'kind = "rtu"\nhost'), "an RTU transport needs a serial device path", None),
    ("redline on a missing channel", lambda s: s.replace('name = "wall_temp"\nchannel = "wall_temp"', 'name = "wall_temp"\nchannel = "wall_tmp"'), "names no channel: 'wall_tmp'", 'channel = "wall_tmp"'),
    ("redline without a limit", lambda s: s.replace("max = 1200\n", ""), "sets no limit", 'name = "wall_temp"#2'),
    ("feedback to a missing channel", lambda s: s.replace('feedback = "ox_main_pos"', 'feedback = "ox_pos"'), "names no channel: 'ox_pos'", 'feedback = "ox_pos"'),
    ("throttle through an igniter", lambda s: s.replace('actuators = ["ox_main", "fuel_main"]', 'actuators = ["igniter"]'), "igniter is not a proportional valve", 'actuators = ["igniter"]'),
    ("overpressure on a missing channel", lambda s: s.replace('overpressure_channel = "pc"', 'overpressure_channel = "pcx"'), "names no channel: 'pcx'", 'overpressure_channel = "pcx"'),
    ("throttle range inverted", lambda s: s.replace("throttle_min_pct = 40", "throttle_min_pct = 120"), "must be below throttle_max_pct", "throttle_min_pct = 120"),
    ("string where a number goes", lambda s: s.replace("watchdog_s = 0.1", 'watchdog_s = "fast"'), "must be float, got 'fast'", 'watchdog_s = "fast"'),
    ("negative watchdog", lambda s: s.replace("watchdog_s = 0.1", "watchdog_s = -1"), "must be a finite number > 0", "watchdog_s = -1"),
    ("one lost answer outlasts the watchdog", lambda s: s.replace("timeout_s = 0.02", "timeout_s = 0.05"),
     "a single lost answer would trip the stand", "timeout_s = 0.05"),
    ("sim actuator without drives", lambda s: s.replace('drives = "purge"\n', ""), "must say which plant input", "[[actuators]]#4"),
    ("not TOML at all", lambda s: s.replace("[loop]", "[loop"), "not valid TOML", "[loop"),
    ("no stand table", lambda s: s.replace("[stand]", "[stands]"), "stand: table is required", None),
]


@pytest.mark.parametrize("desc, transform, message, line_text", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_stand_files_name_file_key_and_line(desc, transform, message, line_text) -> None:
    text = transform(LAB_TEXT)
    assert text != LAB_TEXT, "the transform did not change the file: fix the test"
    with pytest.raises(ConfigError) as info:
        parse_stand(text, "stands/broken.toml")
    err = info.value
    assert message in str(err), str(err)
    assert str(err).startswith("stands/broken.toml")
    if line_text is not None:
        needle, _, occ = line_text.partition("#")
        expected = line_of(text, needle, int(occ or 1))
        assert err.line == expected, f"{err} (expected line {expected})"


def test_unreadable_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read stand file"):
        load_stand(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"[stand]\nname = \"caf\xe9\"\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_stand(bad)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text_never_escapes_as_a_traceback(text: str) -> None:
    try:
        parse_stand(text, "fuzz.toml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml")


_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) |
                       st.text(max_size=10), lambda inner: st.lists(inner, max_size=4) |
                       st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_stand_never_escapes(data) -> None:
    """Take the real lab stand, replace one value anywhere with junk: always a located error
    or a valid stand, never another exception."""
    import tomllib

    import tomli_w

    doc = tomllib.loads(LAB_TEXT)
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((*path, k))
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append((*path, i))
                walk(v, (*path, i))

    walk(doc, ())
    target = data.draw(st.sampled_from(paths))
    junk = data.draw(_values)
    node = doc
    for p in target[:-1]:
        node = node[p]
    if junk is None:
        del node[target[-1]]
    else:
        node[target[-1]] = junk
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return  # not representable in TOML (e.g. NaN inside arrays of mixed type)
    try:
        parse_stand(text, "mutated.toml")
    except ConfigError as exc:
        assert str(exc).startswith("mutated.toml")
