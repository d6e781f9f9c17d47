"""SASS parsing: instructions, predicates, loops and access widths, on cuobjdump text."""

from vimbench.staticcheck.metrics import access_width_bits
from vimbench.staticcheck.sass import body, find_loops, innermost, parse_sass

# abridged `cuobjdump -sass` of a Triton loop kernel (sm_90), encodings on their own lines
SASS = """
        code for sm_90a
                Function : scanish
        .headerflags    @"EF_CUDA_TEXMODE_UNIFIED EF_CUDA_64BIT_ADDRESS EF_CUDA_SM90"
        /*0000*/                   LDC R1, c[0x0][0x28] ;                 /* 0x00000a00ff017b82 */
                                                                          /* 0x000e220000000800 */
        /*0030*/              @!P0 EXIT ;                                 /* 0x000000000000894d */
        /*0040*/                   LDG.E.128 R4, desc[UR4][R2.64] ;       /* 0x000000040204c981 */
        /*0050*/                   LDG.E.U16 R14, desc[UR6][R4.64] ;      /* 0x00000006040e7981 */
        /*0060*/                   MUFU.EX2 R29, R26 ;                    /* 0x0000001a001d7308 */
        /*0070*/                   MUFU.EX2 R5, R5 ;                      /* 0x0000000500057308 */
        /*0080*/                   NOP ;                                  /* 0x0000000000007918 */
        /*0090*/              @!P1 STG.E.U16 desc[UR6][R14.64], R26 ;     /* 0x0000001a0e009986 */
        /*00a0*/               @P0 BRA 0x50 ;                             /* 0xfffffff800200947 */
        /*00b0*/                   FADD R3, R3, R4 ;                      /* 0x0000000403037221 */
        /*00c0*/               @P2 BRA 0x40 ;                             /* 0xfffffff800200947 */
        /*00d0*/                   EXIT ;                                 /* 0x000000000000794d */
        /*00e0*/                   BRA 0xe0;                              /* 0xfffffffc00fc7947 */
"""


def test_parse_instructions_and_predicates():
    instructions = parse_sass(SASS)
    assert [i.address for i in instructions][:3] == [0x0, 0x30, 0x40]
    exit_ = instructions[1]
    assert (exit_.predicate, exit_.opcode) == ("@!P0", "EXIT")
    assert instructions[2].opcode == "LDG.E.128" and instructions[2].base == "LDG"
    assert sum(i.opcode == "MUFU.EX2" for i in instructions) == 2


def test_loops_nest_and_skip_the_trap_branch():
    instructions = parse_sass(SASS)
    loops = find_loops(instructions)
    assert [(loop.start, loop.end) for loop in loops] == [(0x40, 0xC0), (0x50, 0xA0)]
    inner = innermost(loops)
    assert [(loop.start, loop.end) for loop in inner] == [(0x50, 0xA0)]
    assert [i.opcode for i in body(instructions, inner[0])] == [
        "LDG.E.U16",
        "MUFU.EX2",
        "MUFU.EX2",
        "NOP",
        "STG.E.U16",
        "BRA",
    ]


def test_access_widths():
    assert access_width_bits("LDG.E.128") == 128
    assert access_width_bits("LDG.E.64.CONSTANT") == 64
    assert access_width_bits("LDG.E.U16") == 16
    assert access_width_bits("LDG.E.S8") == 8
    assert access_width_bits("STG.E") == 32
