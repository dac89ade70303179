"""What a 6.12 policy's hooks need elsewhere in the tree when its design is
the one before the 2025 fix ("KVM: arm64: Unconditionally save+flush host
FPSIMD/SVE/SME state", "Remove host FPSIMD saving for non-protected KVM",
"Remove VHE host restore of CPACR_EL1.ZEN" and "...SMEN" took it away):

- a trap hook that saves the host's state when the host owns the
  registers: the hyp's kvm_hyp_save_fpsimd_host() for every mode, the
  host_data pointers it saves through, pKVM's use of them;
- the vcpu flags HOST_SVE_ENABLED and HOST_SME_ENABLED;
- fpsimd_kvm_prepare() in arch/arm64/kernel/fpsimd.c.

Each piece is looked for first: a tree that has it (a 6.12.0 tree) gets no
edit. The C is templates/v6.12/tree_code.c.j2's."""

from __future__ import annotations

import re

from fpdsl.emit import targets as T
from fpdsl.emit.anchors import AnchorError, CFile, walk
from fpdsl.emit.edits import Line, Origin

SAVE_HOST = "kvm_hyp_save_fpsimd_host"
# The guard 6.12.21 gave the hyp's host save ("Remove host FPSIMD saving for
# non-protected KVM"), and the one it had before.
PKVM_ONLY = "is_protected_kvm_enabled() && host_owns_fp_regs()"
HOST_OWNS = "host_owns_fp_regs()"
SFLAG = re.compile(r"^#define\s+(\w+)\s+__vcpu_single_flag\(sflags, BIT\((\d+)\)\)")
FLAG_WORDS = {"HOST_SVE_ENABLED": "SVE enabled for host EL0", "HOST_SME_ENABLED": "SME enabled for host EL0"}


class TreeNeeds:
    """Collects the edits through a site builder's `_edit`."""

    def __init__(self, builder) -> None:
        self.b = builder
        self.code = builder.lower.env.get_template("v6.12/tree_code.c.j2").make_module()

    def _lines(self, macro, why: Origin, *args, indent: str = "") -> list[Line]:
        return [Line(f"{indent}{t}" if t else "", why) for t in str(macro(*args)).split("\n")]

    # -- the hyp's save of the host's registers ---------------------------

    def hyp_host_save(self, why: Origin) -> None:
        self._guard(why)
        if self._save_defined_in_header(why):
            self._per_mode_definitions(why)
        self._host_data_unions(why)
        self._nvhe_pointers(why)
        self._pkvm_restore(why)

    def _guard(self, why: Origin) -> None:
        """kvm_hyp_handle_fpsimd(): save the host's registers whenever the
        host owns them, not only under pKVM."""
        cf = self.b.tree[T.HYP_SWITCH_H]
        found = [
            n
            for n in walk(cf.function("kvm_hyp_handle_fpsimd"))
            if n.type == "if_statement" and HOST_OWNS in cf._text(n.child_by_field_name("condition"))
        ]
        if len(found) != 1:
            raise AnchorError(
                f"{T.HYP_SWITCH_H}: cannot find the one 'if (... {HOST_OWNS})' in kvm_hyp_handle_fpsimd()"
            )
        cond = " ".join(cf._text(found[0].child_by_field_name("condition")).split())
        cond = cond[1:-1].strip() if cond.startswith("(") and cond.endswith(")") else cond
        if cond == HOST_OWNS:
            return
        if cond != PKVM_ONLY:
            raise AnchorError(
                f"{T.HYP_SWITCH_H}: kvm_hyp_handle_fpsimd() saves the host's state on '{cond}', "
                f"which fpdsl does not know; expected '{PKVM_ONLY}' or '{HOST_OWNS}'"
            )
        row = found[0].start_point[0]
        indent = cf.lines[row][: len(cf.lines[row]) - len(cf.lines[row].lstrip("\t"))]
        self.b._edit(T.HYP_SWITCH_H, row, row + 1, [Line(f"{indent}if ({HOST_OWNS})", why)], why)

    def _save_defined_in_header(self, why: Origin) -> bool:
        """switch.h's pKVM-only definition becomes a declaration again;
        whether it had one."""
        cf = self.b.tree[T.HYP_SWITCH_H]
        try:
            node = cf.function(SAVE_HOST)
        except AnchorError:
            cf.prototype(SAVE_HOST)  # a 6.12.0 tree: declared here, defined per mode
            return False
        start, end = node.start_point[0], node.end_point[0] + 1
        # 6.12.21 left two blank lines after it; one goes with it.
        if cf.lines[end].strip() == "" and cf.lines[end + 1].strip() == "":
            end += 1
        self.b._edit(T.HYP_SWITCH_H, start, end, self._lines(self.code.hyp_save_prototype, why), why)
        return True

    def _per_mode_definitions(self, why: Origin) -> None:
        nvhe = self.b.tree[T.HYP_NVHE_SWITCH_C]
        at = _top_level_line(nvhe, r"static const exit_handler_fn hyp_exit_handlers\[\]")
        self.b._edit(T.HYP_NVHE_SWITCH_C, at, at, [*self._lines(self.code.hyp_save_nvhe, why), Line("", why)], why)
        vhe = self.b.tree[T.HYP_VHE_SWITCH_C]
        at = vhe.function("kvm_hyp_handle_tlbi_el2").start_point[0]
        self.b._edit(T.HYP_VHE_SWITCH_C, at, at, [*self._lines(self.code.hyp_save_vhe, why), Line("", why)], why)

    def _host_data_unions(self, why: Origin) -> None:
        """struct kvm_host_data: the host's FPSIMD and FPMR storage become
        pointers (sharing their words with pKVM's own storage)."""
        cf = self.b.tree[T.KVM_HOST_H]
        body = cf.struct_body("kvm_host_data")
        fields = {_field_name(cf, n): n for n in body.named_children if n.type == "field_declaration"}
        if "fpsimd_state" in _union_members(cf, body):
            return
        for name, macro in (("sve_state", self.code.host_data_fpsimd_union), ("fpmr", self.code.host_data_fpmr_union)):
            if name not in fields:
                raise AnchorError(f"{T.KVM_HOST_H}: cannot find the field '{name}' of struct kvm_host_data")
            # The fpmr field's comment ("pKVM only") goes with it; the one
            # above sve_state speaks of the struct's pointers.
            site = cf.with_leading_comment(fields[name]) if name == "fpmr" else cf.site(fields[name])
            self.b._edit(T.KVM_HOST_H, site.start, site.end, self._lines(macro, why, indent=site.indent), why)

    def _nvhe_pointers(self, why: Origin) -> None:
        """finalize_init_hyp_mode(): point each CPU's fpsimd_state at its
        host context, unless pKVM gave it SVE buffers."""
        cf = self.b.tree[T.ARM_C_6]
        found = [
            n
            for n in walk(cf.function("finalize_init_hyp_mode"))
            if n.type == "if_statement" and "->sve_state =" in cf._text(n)
        ]
        if len(found) != 1:
            raise AnchorError(
                f"{T.ARM_C_6}: cannot find the one 'if' that sets ->sve_state in finalize_init_hyp_mode()"
            )
        node = found[0]
        if node.child_by_field_name("alternative") is not None:
            if "->fpsimd_state =" in cf._text(node.child_by_field_name("alternative")):
                return
            raise AnchorError(
                f"{T.ARM_C_6}: finalize_init_hyp_mode()'s 'if' that sets ->sve_state has an else fpdsl does not know"
            )
        last = node.end_point[0]
        if cf.lines[last].strip() != "}":
            raise AnchorError(f"{T.ARM_C_6}:{last + 1}: expected the closing brace of the 'if' that sets ->sve_state")
        indent = cf.site(node).indent
        self.b._edit(T.ARM_C_6, last, last + 1, self._lines(self.code.nvhe_fpsimd_pointers, why, indent=indent), why)

    def _pkvm_restore(self, why: Origin) -> None:
        cf = self.b.tree[T.HYP_MAIN_C]
        call = cf.call("fpsimd_sve_sync", "__fpsimd_restore_state")
        text = " ".join(cf._text(call).split())
        if "*host_data_ptr(fpsimd_state)" in text:
            return
        if "host_data_ptr(host_ctxt.fp_regs)" not in text:
            raise AnchorError(
                f"{T.HYP_MAIN_C}: fpsimd_sve_sync() restores the host's FPSIMD state from "
                f"'{text}', which fpdsl does not know"
            )
        site = cf.site(call)
        rows = self._lines(self.code.pkvm_host_fpsimd_restore, why, indent=site.indent)
        self.b._edit(T.HYP_MAIN_C, site.start, site.end, rows, why)

    # -- vcpu flags and fpsimd_kvm_prepare() -------------------------------

    def vcpu_flags(self, wanted: dict[str, Origin]) -> None:
        """#define the vcpu sflags the policy's flags are, in the lowest free
        bits, before the first sflag the tree defines."""
        cf = self.b.tree[T.KVM_HOST_H]
        missing = [name for name in FLAG_WORDS if name in wanted and not cf.has_define(name)]
        if not missing:
            return
        defined = [(i, m) for i, line in enumerate(cf.lines) if (m := SFLAG.match(line))]
        if not defined:
            raise AnchorError(f"{T.KVM_HOST_H}: no '__vcpu_single_flag(sflags, ...)' flag to add {missing[0]} beside")
        used = {int(m.group(2)) for _, m in defined}
        at = defined[0][0]
        if cf.lines[at - 1].strip().startswith("/*") and cf.lines[at - 1].strip().endswith("*/"):
            at -= 1
        rows: list[Line] = []
        bit = 0
        for name in missing:
            while bit in used:
                bit += 1
            used.add(bit)
            rows += self._lines(self.code.vcpu_flag_define, wanted[name], name, bit, FLAG_WORDS[name])
        self.b._edit(T.KVM_HOST_H, at, at, rows, wanted[missing[0]], order=-1)

    def kvm_prepare(self, why: Origin) -> None:
        """fpsimd_kvm_prepare(), after fpsimd_signal_preserve_current_state()
        as it was, declared in asm/fpsimd.h."""
        cf = self.b.tree[T.FPSIMD_C]
        try:
            cf.function("fpsimd_kvm_prepare")
        except AnchorError:
            at = cf.after_function("fpsimd_signal_preserve_current_state")
            if cf.lines[at].strip() == "":
                at += 1
            rows = [*self._lines(self.code.kvm_prepare_definition, why), Line("", why)]
            self.b._edit(T.FPSIMD_C, at, at, rows, why)
        hdr = self.b.tree[T.FPSIMD_H]
        try:
            hdr.prototype("fpsimd_kvm_prepare")
        except AnchorError:
            at = hdr.prototype("fpsimd_signal_preserve_current_state").end_point[0] + 1
            self.b._edit(T.FPSIMD_H, at, at, [Line("extern void fpsimd_kvm_prepare(void);", why)], why)


def _field_name(cf: CFile, node) -> str:
    decl = node.child_by_field_name("declarator")
    while decl is not None and decl.type not in ("field_identifier", "identifier"):
        decl = decl.child_by_field_name("declarator")
    return "" if decl is None else cf._text(decl)


def _union_members(cf: CFile, body) -> set[str]:
    return {
        _field_name(cf, f)
        for n in walk(body)
        if n.type == "union_specifier"
        for f in walk(n)
        if f.type == "field_declaration"
    }


def _top_level_line(cf: CFile, pattern: str) -> int:
    found = [n.start_point[0] for n in cf.root.named_children if re.match(pattern, cf.lines[n.start_point[0]])]
    if len(found) != 1:
        what = "cannot find" if not found else f"found {len(found)} times"
        raise AnchorError(f"{cf.path}: {what} the declaration '{pattern.replace(chr(92), '')}'")
    return found[0]
