"""Tables, targets, the markdown report and the chart."""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from bench.contenders import CONTENDERS, RERUNS
from bench.measure import OutputCheck, Run, find_key, median


@dataclass
class Results:
    n: int
    seed: int
    runs: int
    command: str
    corpus: str
    warm_seconds: float
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    fresh: dict[str, list[Run]] = field(default_factory=dict)
    reruns: dict[str, list[Run]] = field(default_factory=dict)
    checks: dict[str, OutputCheck] = field(default_factory=dict)
    classes: dict[str, dict[str, list[Run]]] = field(default_factory=dict)  # kind → contender
    skipped: dict[str, str] = field(default_factory=dict)
    class_sizes: dict[str, str] = field(default_factory=dict)  # kind → "60 x 4000x3000"
    warnings: list[str] = field(default_factory=list)

    def wall(self, name: str) -> float | None:
        runs = [r for r in self.fresh.get(name, []) if r.ok]
        return median([r.wall for r in runs]) if runs else None


@dataclass(frozen=True)
class Target:
    label: str
    detail: str
    status: str  # PASS, MISS or SKIP


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    try:
        import pyvips

        vips = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    except Exception as exc:
        vips = f"unavailable ({exc})"
    try:
        from importlib.metadata import version

        derivo = version("derivo")
    except Exception:
        derivo = "not installed"
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "libvips": vips,
        "derivo": derivo,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _status(runs: list[Run]) -> str:
    bad = [r for r in runs if not r.ok]
    failed = sum(int(r.summary.get("failed", 0) or 0) for r in runs)
    if bad:
        return f"{len(bad)} run(s) exited {bad[0].returncode}"
    if failed:
        return f"{failed} photo(s) failed"
    return "ok"


def fresh_rows(res: Results) -> list[list[str]]:
    header = [
        "contender",
        "wall s",
        "min-max s",
        "vs derivo",
        "CPU %",
        "CPU s",
        "other %",
        "max RSS MB",
        "tree RSS MB",
        "photos/s",
        "thumb KB",
        "preview KB",
        "status",
    ]
    rows = [header]
    base = res.wall("derivo")
    for name, runs in res.fresh.items():
        good = [r for r in runs if r.ok] or runs
        wall = median([r.wall for r in good])
        check = res.checks.get(name)
        rows.append(
            [
                name,
                f"{wall:.2f}",
                f"{min(r.wall for r in good):.2f}-{max(r.wall for r in good):.2f}",
                _fmt(wall / base if base else None, ".2f", "x"),
                f"{100 * median([r.utilisation(res.cores) for r in good]):.0f}",
                f"{median([r.cpu for r in good]):.1f}",
                f"{100 * max(r.other_load(res.cores) for r in good):.0f}",
                f"{max(r.max_rss_mb for r in good):.0f}",
                f"{max(r.tree_rss_mb for r in good):.0f}",
                f"{res.n / wall:.1f}",
                _fmt(check.mean_kb.get("thumbnail") if check else None, ".1f"),
                _fmt(check.mean_kb.get("preview") if check else None, ".1f"),
                _status(runs),
            ]
        )
    return rows


def rerun_rows(res: Results) -> list[list[str]]:
    header = ["re-run", "wall s", "in-process s", "CPU s", "max RSS MB", "result", "status"]
    rows = [header]
    for name, runs in res.reruns.items():
        good = [r for r in runs if r.ok] or runs
        inner = [r.inner_wall for r in good if r.inner_wall is not None]
        last = good[-1].summary
        result = ", ".join(f"{k} {last[k]}" for k in ("rendered", "cached", "failed") if k in last)
        rows.append(
            [
                name,
                f"{median([r.wall for r in good]):.3f}",
                _fmt(median(inner) if inner else None, ".3f"),
                f"{median([r.cpu for r in good]):.2f}",
                f"{max(r.max_rss_mb for r in good):.0f}",
                result or "-",
                _status(runs),
            ]
        )
    return rows


def class_rows(res: Results) -> list[list[str]]:
    """Median wall seconds per size class, and each contender's ratio to derivo."""
    names = [n for n in res.fresh if any(n in runs for runs in res.classes.values())]
    names.sort(key=lambda n: n != "derivo")
    others = names[1:] if names[:1] == ["derivo"] else []
    rows = [["size class", *[f"{n} s" for n in names], *[f"{n}/derivo" for n in others]]]
    for kind, runs in res.classes.items():
        walls = {n: median([r.wall for r in runs[n] if r.ok] or [0.0]) for n in names if n in runs}
        base = walls.get("derivo")
        ratios = [
            _fmt(walls[n] / base if base and walls.get(n) else None, ".2f", "x") for n in others
        ]
        label = f"{kind} ({res.class_sizes[kind]})" if kind in res.class_sizes else kind
        rows.append([label, *[_fmt(walls.get(n)) for n in names], *ratios])
    return rows


def targets(res: Results) -> list[Target]:
    out: list[Target] = []
    derivo, work = res.wall("derivo"), res.wall("workfloor")
    original_node, original = res.wall("original-node"), res.wall("original")
    sharp = res.wall("sharp-well")

    def add(label: str, ok: bool | None, detail: str) -> None:
        out.append(Target(label, detail, "SKIP" if ok is None else "PASS" if ok else "MISS"))

    label = "derivo within 1.10x of the work floor"
    if derivo and work:
        add(label, derivo / work <= 1.10, f"{derivo:.2f} s / {work:.2f} s = {derivo / work:.2f}x")
    else:
        add(label, None, "needs derivo and workfloor")
    label = "derivo at least 1.6x faster than the original design"
    base, which = (original_node, "as written") if original_node else (original, "Python")
    if derivo and base:
        add(
            f"{label} ({which})",
            base / derivo >= 1.6,
            f"{base:.2f} s / {derivo:.2f} s = {base / derivo:.2f}x",
        )
    else:
        add(label, None, "needs derivo and original-node or original")
    label = "derivo at least as fast as sharp written well"
    if derivo and sharp:
        add(label, derivo <= sharp, f"{sharp:.2f} s / {derivo:.2f} s = {sharp / derivo:.2f}x")
    else:
        add(label, None, "needs derivo and sharp-well (node)")
    worker_rss = [
        find_key(r.summary, "peak_worker_rss_mb") for r in res.fresh.get("derivo", []) if r.ok
    ]
    worker_values = [float(v) for v in worker_rss if isinstance(v, int | float)]
    label = "peak RSS per derivo worker at most 150 MB"
    if worker_values:
        value = max(worker_values)
        add(label, value <= 150, f"{value:.0f} MB (largest worker, from its own ru_maxrss)")
    else:
        runs = [r for r in res.fresh.get("derivo", []) if r.ok]
        if runs:
            value = max(r.max_rss_mb for r in runs)
            add(label, value <= 150, f"{value:.0f} MB (largest process of the run)")
        else:
            add(label, None, "derivo not run")
    inner = [r.inner_wall for r in res.reruns.get("derivo re-run", []) if r.ok]
    inner_values = [v for v in inner if v is not None]
    if inner_values:
        value = median(inner_values)
        add("derivo re-run under 0.1 s (in-process)", value < 0.1, f"{value:.3f} s")
    else:
        add("derivo re-run under 0.1 s (in-process)", None, "no derivo re-run")
    cpu50 = [r for r in res.fresh.get("derivo-cpu50", []) if r.ok]
    if cpu50:
        util = 100 * median([r.utilisation(res.cores) for r in cpu50])
        add("derivo --cpu 0.5 uses 40-60 % of the CPU", 40 <= util <= 60, f"{util:.0f} %")
    else:
        add("derivo --cpu 0.5 uses 40-60 % of the CPU", None, "derivo-cpu50 not run")
    return out


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |"]
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(rows[0]) - 1)) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def target_lines(res: Results) -> list[str]:
    return [f"{t.status:4}  {t.label}: {t.detail}" for t in targets(res)]


def check_lines(res: Results) -> list[str]:
    lines = []
    for name, check in res.checks.items():
        counts = ", ".join(f"{v} {k}s" for k, v in check.counts.items())
        verdict = "ok" if check.ok else "PROBLEMS: " + "; ".join(check.problems[:5])
        lines.append(f"{name}: {counts}, {check.checked} inspected: {verdict}")
    return lines


def console(res: Results) -> str:
    parts = ["", f"Fresh runs ({res.n} photos, median of {res.runs}):", text_table(fresh_rows(res))]
    if res.classes:
        parts += ["", "Per size class (median wall s):", text_table(class_rows(res))]
    if res.reruns:
        parts += ["", "Re-runs over unchanged files:", text_table(rerun_rows(res))]
    if res.checks:
        parts += ["", "Output check:", *check_lines(res)]
    for name, why in res.skipped.items():
        parts.append(f"skipped {name}: {why}")
    parts += [f"WARNING: {w}" for w in res.warnings]
    parts += ["", "Targets:", *target_lines(res)]
    return "\n".join(parts)


def chart(res: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    names = list(res.fresh)
    walls = [median([r.wall for r in res.fresh[n]]) for n in names]
    lows = [w - min(r.wall for r in res.fresh[n]) for n, w in zip(names, walls, strict=True)]
    highs = [max(r.wall for r in res.fresh[n]) - w for n, w in zip(names, walls, strict=True)]
    colours = [
        "#2a9d8f" if n.startswith("derivo") else "#8d99ae" if "floor" in n else "#e76f51"
        for n in names
    ]
    y = range(len(names))
    left.barh(y, walls, xerr=[lows, highs], color=colours, capsize=3)
    left.set_yticks(list(y), names)
    left.invert_yaxis()
    left.set_xlabel("wall seconds (median, whiskers min-max)")
    left.set_title(f"{res.n} photos, fresh state, 2 derivatives each")
    for i, (w, high) in enumerate(zip(walls, highs, strict=True)):
        left.text(w + high, i, f"  {w:.1f} s", va="center")
    left.margins(x=0.18)
    if res.reruns:
        rnames = list(res.reruns)
        rwall = [median([r.wall for r in res.reruns[n]]) for n in rnames]
        rinner = [
            median([v for r in res.reruns[n] if (v := r.inner_wall) is not None] or [0.0])
            for n in rnames
        ]
        ry = list(range(len(rnames)))
        right.barh([v - 0.2 for v in ry], rwall, height=0.4, color="#264653", label="command")
        right.barh([v + 0.2 for v in ry], rinner, height=0.4, color="#e9c46a", label="in-process")
        right.set_yticks(ry, rnames)
        right.invert_yaxis()
        right.set_xlabel("wall seconds (median)")
        right.set_title("re-run over unchanged files")
        right.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        for i, (a, b) in enumerate(zip(rwall, rinner, strict=True)):
            right.text(a, i - 0.2, f" {a:.2f}", va="center", fontsize=8)
            right.text(b, i + 0.2, f" {b:.3f}", va="center", fontsize=8)
        right.margins(x=0.25)
    else:
        right.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(res: Results, png_name: str) -> str:
    info = machine()
    contender_lines = []
    for name in res.fresh:
        c = CONTENDERS[name]
        contender_lines.append(f"- **{name}**: {c.summary}.")
        contender_lines += [f"  - {note}" for note in c.notes]
    rerun_lines = [f"- **{name}**: {RERUNS[name].summary}." for name in res.reruns]
    parts = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (see `bench/README.md`); re-run it to update this page.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
        "## Command",
        "",
        "```",
        res.command,
        "```",
        "",
        "## Corpus",
        "",
        f"{res.corpus}. Generated deterministically (seed {res.seed}) from `samples/*.jpg`: "
        "random crop, resized to the camera resolution, per-pixel Gaussian sensor noise, "
        "JPEG quality 92 with 4:2:0 chroma subsampling, random EXIF orientation 1-8.",
        "",
        "## Method",
        "",
        "- Every contender runs as its own process, from a fresh state (empty output "
        "directory and database), in alternating order, "
        f"{res.runs} run(s) each; the table shows the median.",
        f"- The page cache is warm for everyone: every corpus file is read once before "
        f"timing starts ({res.warm_seconds:.2f} s).",
        "- Wall time covers the whole command, interpreter start included. CPU seconds and "
        "max RSS come from `wait4()` on the contender's process (children included once "
        "reaped); CPU % = CPU seconds / wall / cores. Max RSS is the largest single "
        "process, tree RSS the largest sampled sum over the live process tree "
        "(every 0.1 s). *other %* is the highest share of the machine's CPU that anything "
        "else used during one of the runs (from `/proc/stat`); near 0 means a quiet machine.",
        "- Each contender writes a 200x200 thumbnail (q80) and a 1200x1200 preview (q85) "
        "per photo, progressive JPEG, never upscaled; the output check below confirms it.",
        "- The decode floor only decodes (libvips shrink-on-load to 1200 px); the work "
        "floor does the least work that makes both derivatives (scaled decode, Lanczos3, "
        "two progressive encodes to memory). Neither writes anything.",
        "",
        "Contenders:",
        "",
        *contender_lines,
        "",
        "## Results",
        "",
        f"![wall seconds per contender]({png_name})",
        "",
        markdown_table(fresh_rows(res)),
        "",
    ]
    if res.classes:
        parts += [
            "### Per size class",
            "",
            "Each size class alone, the same contenders in alternating order, "
            f"{res.runs} run(s) each; median wall seconds and the ratio to derivo.",
            "",
            markdown_table(class_rows(res)),
            "",
        ]
    if res.reruns:
        parts += [
            "### Re-runs over unchanged files",
            "",
            "Second run on the same output directory and database. *in-process* is the "
            "time the tool reports itself (`wall_seconds` of its JSON summary); *wall s* "
            "adds interpreter start-up and imports.",
            "",
            *rerun_lines,
            "",
            markdown_table(rerun_rows(res)),
            "",
        ]
    if res.checks:
        parts += [
            "### Output check",
            "",
            "After each contender's first run: every derivative counted; a sample inspected "
            "for fitting its box, being progressive (SOF2) and carrying no leftover EXIF "
            "orientation; portrait outputs counted against the photos EXIF turns to portrait.",
            "",
            *[f"- {line}" for line in check_lines(res)],
            "",
        ]
    if res.warnings:
        parts += ["**Warnings:**", "", *[f"- {w}" for w in res.warnings], ""]
    if res.skipped:
        parts += ["Skipped:", "", *[f"- {k}: {v}" for k, v in res.skipped.items()], ""]
    parts += [
        "## Targets",
        "",
        *[f"- **{t.status}** {t.label}: {t.detail}" for t in targets(res)],
        "",
    ]
    return "\n".join(parts)


def write(res: Results, docs: Path) -> tuple[Path, Path]:
    docs.mkdir(parents=True, exist_ok=True)
    md, png = docs / "benchmarks.md", docs / "benchmarks.png"
    chart(res, png)
    md.write_text(markdown(res, png.name))
    return md, png
