# The fuzz stream generator is deterministic per seed (so a failing seed can
# be replayed), varied across seeds, and mixes valid exiting instructions
# with random bytes.
import fuzzgen


def test_same_seed_same_stream_and_known_first_values():
    assert fuzzgen.stream(7) == fuzzgen.stream(7)
    r = fuzzgen.Rng(1)
    first = [r.next() for _ in range(3)]
    r2 = fuzzgen.Rng(1)
    assert [r2.next() for _ in range(3)] == first
    assert len(set(first)) == 3 and all(0 <= v < 2**64 for v in first)


def test_streams_differ_and_have_requested_length():
    streams = {fuzzgen.stream(s, 200) for s in range(50)}
    assert len(streams) == 50
    assert all(len(s) == 200 for s in streams)


def test_streams_contain_exiting_instructions_and_noise():
    joined = b"".join(fuzzgen.stream(s, 512) for s in range(20))
    for insn in (b"\x0f\xa2", b"\xf4", b"\x0f\x32", b"\x0f\x01\xd9"):
        assert insn in joined
    noise = b"".join(fuzzgen.stream(s, 512, valid_share=0) for s in range(20))
    valid = b"".join(fuzzgen.stream(s, 512, valid_share=4) for s in range(20))
    assert len(set(noise)) == 256                      # uniform random bytes
    assert valid.count(b"\x0f\xa2") > 4 * max(1, noise.count(b"\x0f\xa2"))


def test_cases_cover_every_mode_and_kind_and_replay_alone():
    import struct
    cases = [fuzzgen.case(99, i) for i in range(9)]
    assert {(m, k) for m, k, _ in cases} == {(m, k) for m in fuzzgen.MODES for k in fuzzgen.KINDS}
    assert all(len(code) == 256 for _, _, code in cases)
    assert fuzzgen.case(99, 5) == cases[5] and fuzzgen.case(100, 5) != cases[5]
    # A case is a function of its own seed: replaying index i needs nothing else.
    mode, kind, code = cases[4]
    assert fuzzgen.stream(fuzzgen.case_seed(99, 4), 256, 4 if kind == "valid" else 2, mode) == code
    assert len({struct.pack("<Q", fuzzgen.case_seed(1, i)) for i in range(1000)}) == 1000


def test_mode_streams_use_that_modes_encodings():
    joined = {m: b"".join(fuzzgen.stream(s, 512, 4, m) for s in range(30)) for m in fuzzgen.MODES}
    assert b"\x48\xb8" in joined["long"] and b"\x44\x0f\x22\xc0" in joined["long"]   # REX forms
    # Long mode writes CR0 (not CR8: REX.R 0x44) only as read, flip one bit
    # but PE/PG, write back.
    code = joined["long"]
    writes = [i for i in range(len(code)) if code.startswith(b"\x0f\x22\xc0", i) and code[i - 1] != 0x44]
    assert writes
    for i in writes:
        assert code[i - 9:i - 4] == b"\x0f\x20\xc0\x48\x35"
        assert not int.from_bytes(code[i - 4:i], "little") & 0x80000001
    assert b"\x66\xb9" in joined["real"] and b"\xea" in joined["real"]               # 32-bit ECX in 16-bit code
    assert b"\x0f\x01\x15" in joined["protected"]                                      # lgdt [disp32]
    for msr in (0xC0010117, 0xC0000080):
        assert msr.to_bytes(4, "little") in joined["protected"]


def test_pure_byte_cases_are_uniform_noise():
    noise = b"".join(code for m, k, code in (fuzzgen.case(3, i) for i in range(90)) if k == "bytes")
    assert len(noise) == 30 * 256 and len(set(noise)) == 256
