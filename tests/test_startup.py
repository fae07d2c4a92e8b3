"""Start-up: cffi's type parsing short-cut builds exactly the models cffi would, and the device can
be prepared in the background."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpurender.render import device as dev


def _ffi():
    from wgpu.backends.wgpu_native._ffi import ffi

    return ffi


def _cffi_own_parse(ffi, cdecl):
    from cffi import cparser

    return cparser.Parser.parse_type_and_quals(ffi._parser, cdecl)


def _strings_wgpu_asks_for() -> list[str]:
    """The type strings wgpu-py's backend passes to ffi.new / ffi.callback, plus struct pointers."""
    import wgpu.backends.wgpu_native._api as api

    text = Path(api.__file__).read_text()
    found = set(re.findall(r'ffi\.(?:new|callback)\(\s*"([^"{}]+)"', text))
    ffi = _ffi()
    structs = sorted(k[len("typedef "):] for k in ffi._parser._declarations if k.startswith("typedef WGPU"))
    found.update(f"{name} *" for name in structs[::12])  # a spread of the ~430 struct types
    return sorted(found)


def test_the_short_cut_gives_cffis_own_models():
    assert dev.fast_cffi_types()
    ffi = _ffi()
    strings = _strings_wgpu_asks_for()
    assert len(strings) > 40
    taken = 0
    for cdecl in strings:
        try:
            expected = _cffi_own_parse(ffi, cdecl)
        except Exception:  # noqa: BLE001 - cffi itself cannot parse it: the short-cut must not either
            continue
        got = ffi._parser.parse_type_and_quals(cdecl)
        assert got == expected, cdecl
        taken += 1
    assert taken > 40


@pytest.mark.parametrize("cdecl", ["struct WGPUStringView", "unsigned int", "int(*)(int)", "WGPUNotAType *"])
def test_other_strings_are_left_to_cffi(cdecl):
    dev.fast_cffi_types()
    ffi = _ffi()
    try:
        expected = _cffi_own_parse(ffi, cdecl)
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            ffi._parser.parse_type_and_quals(cdecl)
    else:
        assert ffi._parser.parse_type_and_quals(cdecl) == expected


def test_device_prepared_in_the_background_is_the_device(device):
    dev.prepare_in_background()  # a no-op once the device exists; never a second device
    assert dev.get_device() is device
