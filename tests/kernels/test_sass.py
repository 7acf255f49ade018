"""SASS parsing and hottest-loop analysis on hand-written listings (no tools needed)."""

from __future__ import annotations

from mfa_engine import sass

LISTING = """
\tcode for sm_90
\t\tFunction : k
        /*0000*/                   MOV R1, c[0x0][0x28] ;
        /*0010*/                   NOP ;
        /*0020*/                   LDS.128 R4, [R2] ;
        /*0030*/                   FADD R8, R4, R5 ;
        /*0040*/                   FMNMX R9, R9, R8, PT ;
        /*0050*/               @P0 BRA 0x20 ;
        /*0060*/                   LDG.E.128 R4, desc[UR4][R2.64] ;
        /*0070*/                   LDG.E.U8 R6, desc[UR4][R2.64] ;
        /*0080*/                   IADD3 R3, R3, 0x1, RZ ;
        /*0090*/              @!P1 BRA 0x80 ;
        /*00a0*/                   EXIT ;
        /*00b0*/                   BRA 0xb0;
"""


def test_parse_drops_nops_and_reads_opcodes() -> None:
    funcs = sass.parse_sass(LISTING)
    ins = funcs["k"]
    assert [i.opcode for i in ins[:3]] == ["MOV", "LDS", "FADD"]
    assert all(i.opcode != "NOP" for i in ins) and len(ins) == 11
    assert ins[1].mods == ".128"


def test_hottest_loop_is_the_one_with_the_useful_work() -> None:
    ins = sass.parse_sass(LISTING)["k"]
    st = sass.hottest_loop(ins)
    assert (st.start, st.end, st.total, st.useful) == (0x20, 0x50, 4, 2)
    assert st.share == 0.5
    assert sass.useful_share(ins) == 0.5


def test_nested_loop_counts_once_and_self_branch_is_not_a_loop() -> None:
    text = LISTING.replace("@!P1 BRA 0x80", "@!P1 BRA 0x20")  # outer loop [0x20, 0x90] around [0x20, 0x50]
    ins = sass.parse_sass(text)["k"]
    st = sass.hottest_loop(ins)
    assert (st.start, st.end) == (0x20, 0x50)  # same useful count: the innermost wins
    no_loop = sass.parse_sass("\t\tFunction : e\n        /*0000*/                   BRA 0x0;\n")["e"]
    assert sass.hottest_loop(no_loop) is None and sass.useful_share(no_loop) == 0.0


def test_global_load_widths() -> None:
    ins = sass.parse_sass(LISTING)["k"]
    assert sass.global_load_widths(ins) == {8: 1, 128: 1}


DECOY = """
\t\tFunction : d
        /*0000*/                   MOV R1, c[0x0][0x28] ;
        /*0010*/                   LDG.E R4, desc[UR4][R2.64] ;
        /*0020*/                   IMAD R3, R3, 0x4, RZ ;
        /*0030*/                   ISETP.GE.AND P1, PT, R3, 0x10, PT ;
        /*0040*/                   FADD R8, R4, R5 ;
        /*0050*/                   FMNMX R9, R9, R8, PT ;
        /*0060*/               @P0 BRA 0x10 ;
        /*0070*/                   FADD R10, R10, R11 ;
        /*0080*/                   FMNMX R12, R12, R10, PT ;
        /*0090*/                   FADD R13, R13, R11 ;
        /*00a0*/                   FMNMX R14, R14, R13, PT ;
        /*00b0*/               @P2 BRA 0x70 ;
        /*00c0*/                   EXIT ;
"""


def test_gate_takes_the_loop_with_the_loads_not_the_decoy() -> None:
    ins = sass.parse_sass(DECOY)["d"]
    assert sass.hottest_loop(ins).start == 0x70  # the old rule scores the load-free decoy (100%)
    res = sass.gate_loop(ins, min_share=0.8, useful_per_trip=2)
    assert res.loop.start == 0x10 and res.loop.loads == 1
    assert not res.ok and any("cannot tell which loop runs" in p for p in res.problems)
    assert any("(< 80%)" in p for p in res.problems)


def test_gate_checks_the_tile_count_and_passes_a_clean_loop() -> None:
    clean = sass.parse_sass(LISTING)["k"]
    assert sass.gate_loop(clean, min_share=0.5, useful_per_trip=2).ok
    res = sass.gate_loop(clean, min_share=0.5, useful_per_trip=4)
    assert not res.ok and "tile shape gives 4" in res.problems[0]
    no_loads = sass.parse_sass(LISTING.replace("LDS.128 R4, [R2]", "MOV R4, R2"))["k"]
    assert not sass.gate_loop(no_loads).ok
