"""The comparison functions of tests/check_standin.py, on small synthetic
C, assembly and Makefile texts of our own."""

from __future__ import annotations

from pathlib import Path

import pytest
from check_standin import (
    Difference,
    compare_asm,
    compare_c,
    compare_file,
    compare_kbuild,
    compare_layout,
    compare_top_makefile,
    format_report,
    main,
)

REAL_C = """// SPDX-License-Identifier: GPL-2.0
#include <linux/types.h>
#include <asm/demo.h>

#define DEMO_FLAG_A\t\t(1 << 0)
#define DEMO_FLAG_B\t\t(1 << 1)

struct demo_state {
	u64 flags;
	struct demo_ctx *ctx;
	u32 regs[4];
};

extern void demo_flush(void);

static DEFINE_PER_CPU(bool, demo_busy);

static void __hyp_text demo_enter(struct demo_vcpu *vcpu, int cpu)
{
	if (demo_ready(vcpu))
		demo_prepare(vcpu);
	demo_switch(vcpu, cpu);
	demo_finish(vcpu);
}

int demo_run(struct demo_vcpu *vcpu)
{
	int ret = 0;

	while (ret >= 0) {
		demo_enter(vcpu, 0);
		ret = demo_exit(vcpu);
	}
	return ret;
}
"""

# The same structure, written differently: other whitespace and comments,
# braces around the single statement, declarations in another order.
SAME_C = """// SPDX-License-Identifier: GPL-2.0
/* Stand-in. */
#include <asm/demo.h>
#include <linux/types.h>

extern void demo_flush( void );

#define DEMO_FLAG_B (1<<1)	/* the second flag */
#define DEMO_FLAG_A (1 << 0)

static DEFINE_PER_CPU(bool,demo_busy);

struct demo_state {
	u64 flags;		/* stand-in comment */
	struct demo_ctx   *ctx;
};

int demo_run(struct demo_vcpu *vcpu)
{
	int ret = 0;

	while (ret >= 0) {
		/* Stand-in: one entry. */
		demo_enter(vcpu, 0);
		ret = demo_exit(vcpu);
	}
	return ret;
}

static void
__hyp_text demo_enter(struct demo_vcpu * vcpu,
			int cpu)
{
	if (demo_ready(vcpu)) {
		demo_prepare(vcpu);
	}
	demo_switch(vcpu, cpu);
	demo_finish(vcpu);
}
"""

PATH = "arch/demo/demo.c"


def diffs(stand: str, real: str = REAL_C) -> list[str]:
    return [str(d) for d in compare_c(PATH, stand, real)]


def test_identical_structure_gives_no_difference() -> None:
    assert diffs(REAL_C) == []
    assert diffs(SAME_C) == []


def test_changed_signature() -> None:
    stand = SAME_C.replace("int demo_run(struct demo_vcpu *vcpu)", "long demo_run(const struct demo_vcpu *v)")
    assert diffs(stand) == [
        f"{PATH}: demo_run(): return type (stand-in: long; real: int)",
        f"{PATH}: demo_run(): parameter 1 (stand-in: const struct demo_vcpu *v; real: struct demo_vcpu *vcpu)",
    ]


def test_changed_parameter_list_and_attributes() -> None:
    stand = SAME_C.replace("__hyp_text demo_enter(struct demo_vcpu * vcpu,\n\t\t\tint cpu)", "demo_enter(void)")
    assert diffs(stand) == [
        f"{PATH}: demo_enter(): attributes (stand-in: none; real: __hyp_text)",
        f"{PATH}: demo_enter(): parameters (stand-in: void; real: struct demo_vcpu *vcpu, int cpu)",
    ]


def test_static_vs_non_static() -> None:
    stand = SAME_C.replace("static void\n__hyp_text demo_enter", "void\n__hyp_text demo_enter")
    assert diffs(stand) == [f"{PATH}: demo_enter(): specifiers (stand-in: none; real: static)"]


def test_missing_call() -> None:
    stand = SAME_C.replace("\tdemo_finish(vcpu);\n", "")
    assert diffs(stand) == [f"{PATH}: demo_enter(): calls only in real (real: demo_finish())"]


def test_invented_call() -> None:
    stand = SAME_C.replace("\tdemo_finish(vcpu);\n", "\tdemo_finish(vcpu);\n\tdemo_invented(vcpu);\n")
    assert diffs(stand) == [f"{PATH}: demo_enter(): calls only in stand-in (stand-in: demo_invented())"]


def test_call_order() -> None:
    stand = SAME_C.replace(
        "\tdemo_switch(vcpu, cpu);\n\tdemo_finish(vcpu);\n", "\tdemo_finish(vcpu);\n\tdemo_switch(vcpu, cpu);\n"
    )
    assert diffs(stand) == [
        f"{PATH}: demo_enter(): order of demo_finish() (stand-in: after demo_prepare(); real: after demo_switch())"
    ]


def test_call_in_another_control_structure() -> None:
    stand = SAME_C.replace(
        "\tif (demo_ready(vcpu)) {\n\t\tdemo_prepare(vcpu);\n\t}\n", "\tdemo_ready(vcpu);\n\tdemo_prepare(vcpu);\n"
    )
    assert diffs(stand) == [
        f"{PATH}: demo_enter(): demo_ready() in a different control structure "
        "(stand-in: not inside a control structure; real: inside if)",
        f"{PATH}: demo_enter(): demo_prepare() in a different control structure "
        "(stand-in: not inside a control structure; real: inside if)",
    ]


def test_missing_function() -> None:
    stand = SAME_C + "\nvoid demo_other(void)\n{\n}\n"
    assert diffs(stand) == [f"{PATH}: demo_other(): not defined in real"]


def test_missing_struct_member_and_changed_type() -> None:
    stand = SAME_C.replace("\tu64 flags;", "\tu64 flags;\n\tbool fp_enabled;").replace(
        "struct demo_ctx   *ctx;", "struct demo_ctx ctx;"
    )
    assert diffs(stand) == [
        f"{PATH}: struct demo_state: member fp_enabled not in real (stand-in: bool fp_enabled)",
        f"{PATH}: struct demo_state: type of ctx (stand-in: struct demo_ctx; real: struct demo_ctx *)",
    ]


def test_defines_includes_and_macros() -> None:
    stand = (
        SAME_C.replace("(1<<1)", "(1 << 2)")
        .replace("#include <asm/demo.h>", "#include <asm/other.h>")
        .replace("DEFINE_PER_CPU(bool,demo_busy)", "DEFINE_PER_CPU(int, demo_busy)")
        + "#define DEMO_NEW 1\n"
    )
    assert diffs(stand) == [
        f"{PATH}: #include <asm/other.h>: not in real",
        f"{PATH}: #define DEMO_FLAG_B: value (stand-in: (1 << 2); real: (1 << 1))",
        f"{PATH}: #define DEMO_NEW: not defined in real",
        f"{PATH}: DEFINE_PER_CPU(int, demo_busy): not in real (real: static DEFINE_PER_CPU(bool, demo_busy))",
    ]


REAL_H = """#ifndef __DEMO_H
#define __DEMO_H
#ifdef __ASSEMBLY__
.macro demo_macro reg
	mov	\\reg, #0
.endm
#else
extern void demo_save(struct demo_state *st);
#ifdef CONFIG_DEMO
extern void demo_flush(void);
#else
static inline void demo_flush(void) { }
#endif
static inline int demo_count(void)
{
	return demo_read();
}
#endif
#endif
"""


def test_prototypes() -> None:
    path = "include/demo.h"
    same = "extern void demo_save(struct demo_state *st);\nextern void demo_flush(void);\n"
    assert compare_c(path, same, REAL_H) == []
    stand = (
        "void demo_save(struct demo_state *state);\n"
        "extern int demo_count(void);\n"
        "extern void demo_gone(int x);\n"
        "static inline void demo_flush(void) { }\n"
    )
    assert [str(d) for d in compare_c(path, stand, REAL_H)] == [
        f"{path}: demo_save(): specifiers (stand-in: none; real: extern)",
        f"{path}: demo_save(): parameter 1 (stand-in: struct demo_state *state; real: struct demo_state *st)",
        f"{path}: demo_count(): declared in stand-in, defined in real",
        f"{path}: demo_count(): specifiers (stand-in: extern; real: static inline)",
        f"{path}: demo_gone(): not declared in real",
    ]


def test_variable_declarations() -> None:
    real = "extern char demo_vectors[];\nstatic int demo_count;\n"
    assert compare_c("v.c", "static int demo_count;\nextern char demo_vectors[];\n", real) == []
    assert [str(d) for d in compare_c("v.c", "extern long demo_count;\nextern char demo_table[];\n", real)] == [
        "v.c: demo_count: type (stand-in: long; real: int)",
        "v.c: demo_count: specifiers (stand-in: extern; real: static)",
        "v.c: demo_table: not declared in real",
    ]


REAL_S = """#include <linux/linkage.h>
#include <asm/assembler.h>

	.text
ENTRY(__demo_enter)
	stp	x29, x30, [sp, #-16]!
	bl	__demo_save
	cbz	x0, 1f
	bl	__demo_restore
1:	b.eq	__demo_exit
	ret
ENDPROC(__demo_enter)

ENTRY(__demo_exit)
	b	__demo_done
ENDPROC(__demo_exit)

demo_vector:
	b	__demo_enter
"""


def test_asm_identical_structure() -> None:
    same = REAL_S.replace("\tstp\tx29, x30, [sp, #-16]!\n", "\t// stand-in: no frame\n")
    assert compare_asm("a.S", same, REAL_S) == []


def test_asm_missing_entry_and_branch_target() -> None:
    stand = REAL_S.replace("\tbl\t__demo_restore\n", "").replace("ENTRY(__demo_exit)", "ENTRY(__demo_gone)")
    stand = stand.replace("ENDPROC(__demo_exit)", "ENDPROC(__demo_gone)")
    assert [str(d) for d in compare_asm("a.S", stand, REAL_S)] == [
        "a.S: ENTRY(__demo_enter): branches only in real (real: bl __demo_restore)",
        "a.S: ENTRY(__demo_gone): not in real",
    ]


def test_asm_invented_branch_outside_blocks() -> None:
    stand = REAL_S + "other:\n\tb\t__demo_other\n"
    assert [str(d) for d in compare_asm("a.S", stand, REAL_S)] == [
        "a.S: label other: not in real",
        "a.S: (outside ENTRY blocks): branch only in stand-in (stand-in: b __demo_other)",
    ]


REAL_KBUILD = """# comment
ccflags-y += -Idemo
obj-$(CONFIG_DEMO) += demo.o
obj-$(CONFIG_DEMO) += hyp/
demo-y := a.o b.o \\
	c.o
"""


def test_kbuild() -> None:
    same = "obj-$(CONFIG_DEMO) += hyp/ demo.o\ndemo-y += c.o\n"
    assert compare_kbuild("k/Makefile", same, REAL_KBUILD) == []
    stand = "ccflags-y += -Iother\nobj-$(CONFIG_DEMO) += demo.o fpsimd.o\nobj-y += hyp/\nKVM = ../virt\n"
    assert [str(d) for d in compare_kbuild("k/Makefile", stand, REAL_KBUILD + "KVM = ../../virt\n")] == [
        "k/Makefile: ccflags-y +=: words not in real (stand-in: -Iother)",
        "k/Makefile: obj-$(CONFIG_DEMO) +=: objects not in real (stand-in: fpsimd.o)",
        "k/Makefile: obj-y +=: not assigned in real (real: under obj-$(CONFIG_DEMO))",
        "k/Makefile: KVM =: value (stand-in: ../virt; real: ../../virt)",
    ]


def test_top_makefile() -> None:
    real = "VERSION = 4\nPATCHLEVEL = 19\nSUBLEVEL = 95\nEXTRAVERSION =\n"
    assert compare_top_makefile("Makefile", "VERSION = 4\nPATCHLEVEL = 19\nSUBLEVEL = 0\n", real) == []
    assert compare_top_makefile("Makefile", "VERSION = 4\nPATCHLEVEL = 18\n", real) == [
        Difference("Makefile", "PATCHLEVEL", "differs (stand-in: 18; real: 19)")
    ]


def test_missing_file_and_report(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("VERSION = 4\nPATCHLEVEL = 16\n")
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch/demo.c").write_text(REAL_C)
    files = {"Makefile": "VERSION = 4\nPATCHLEVEL = 16\n", "arch/demo.c": SAME_C, "arch/none.c": "int x;\n"}
    found = compare_layout(files, tmp_path)
    assert [str(d) for d in found] == ["arch/none.c: (file): not in the real tree"]
    assert format_report(found).splitlines()[-1] == "1 difference in 1 file"
    assert format_report([]) == "no structural difference"
    assert compare_file("x.txt", "a", "b") == []


def test_main_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--layout", "v4.16", "--tree", str(tmp_path / "missing")]) == 2
    assert "not a kernel tree" in capsys.readouterr().err
    (tmp_path / "Makefile").write_text("VERSION = 4\nPATCHLEVEL = 16\n")
    assert main(["--layout", "v0.1", "--tree", str(tmp_path)]) == 2
    assert "unknown layout" in capsys.readouterr().err
    assert main(["--all", "v4.16"]) == 2
    assert main(["--layout", "v4.16"]) == 2


MORE_REAL_C = """
enum demo_mode { DEMO_OFF, DEMO_ON = 2 };

union demo_reg {
	u64 raw;
	u32 half[2];
};

typedef struct demo_state demo_state_t;

static DEFINE_PER_CPU(struct demo_state, demo_last);

void demo_loop(struct demo *d)
{
	int cpu;

	for_each_possible_cpu(cpu)
		demo_visit(container_of(d, struct demo, node), cpu);
	demo_kick(d);
	kvm_call_hyp(__demo_flush, d);
}
"""


def test_enums_unions_typedefs() -> None:
    assert compare_c("m.c", MORE_REAL_C, MORE_REAL_C) == []
    stand = (
        MORE_REAL_C.replace("DEMO_ON = 2", "DEMO_ON = 1, DEMO_NEW")
        .replace("u32 half[2];", "u32 half[4];")
        .replace("typedef struct demo_state demo_state_t;", "typedef struct demo_other demo_state_t;")
    )
    assert [str(d) for d in compare_c("m.c", stand, MORE_REAL_C)] == [
        "m.c: union demo_reg: type of half (stand-in: u32 [4]; real: u32 [2])",
        "m.c: enum demo_mode: value of DEMO_ON (stand-in: 1; real: 2)",
        "m.c: enum demo_mode: enumerator DEMO_NEW not in real",
        "m.c: typedef demo_state_t: type (stand-in: struct demo_other; real: struct demo_state)",
    ]


def test_loop_macros_and_hyp_calls() -> None:
    stand = MORE_REAL_C.replace(
        "\tfor_each_possible_cpu(cpu)\n\t\tdemo_visit(container_of(d, struct demo, node), cpu);\n\tdemo_kick(d);\n",
        "\tfor_each_possible_cpu(cpu) {\n\t\tdemo_visit(container_of(d, struct demo, node), cpu);\n"
        "\t\tdemo_kick(d);\n\t}\n",
    ).replace("__demo_flush", "__demo_flush_all")
    assert [str(d) for d in compare_c("m.c", stand, MORE_REAL_C)] == [
        "m.c: demo_loop(): calls only in real (real: kvm_call_hyp(__demo_flush, ...))",
        "m.c: demo_loop(): calls only in stand-in (stand-in: kvm_call_hyp(__demo_flush_all, ...))",
        "m.c: demo_loop(): demo_kick() in a different control structure "
        "(stand-in: inside for_each_possible_cpu; real: not inside a control structure)",
    ]
