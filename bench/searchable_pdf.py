"""Searchable PDFs side by side: our gateway (``--engine rapidocr``) vs plain OCRmyPDF with Tesseract, speed and
accuracy measured in the same run (issue 15).

    python -m bench.searchable_pdf [--quick] [--pages 3] [--dpi 300 200] [--rounds 2]
                                 [--scripts latin cjk] [--profile] [--json PATH]

Scans: image-only PDFs (no text layer) of ``--pages`` different Letter pages of known text (``tests/pages.py``:
Latin words, numbers, dates and codes in DejaVu Sans; Simplified Chinese in WenQuanYi Zen Hei), one PDF per
script and ``--dpi``, each page a gray PNG embedded at that resolution, as a scanner makes them. The systems:

- ``gateway``: ``ocr-gateway serve --engine rapidocr`` on 127.0.0.1, ``POST /ocr?format=pdf`` with the PDF as the
  body: it renders the pages, spots their lines, and OCRmyPDF (one job, in its worker) lays the lines over the
  original pages, as PDF/A when it can (``--output-type auto``);
- ``ocrmypdf``: ``ocrmypdf -l LANG --output-type auto --optimize 0 in.pdf out.pdf``, its Tesseract engine told
  ``eng`` for the Latin scans and ``eng+chi_sim`` for the Chinese ones (our engine is told nothing); like the
  gateway's pass it makes PDF/A when it can and leaves the images as they are; ``--jobs`` is its default (every
  core).

Each round makes every scan searchable with one system, then with the other, the order alternating from round to
round, after one untimed warm-up page each. Every round sends PDFs of distinct bytes (their title names the
round), so no cache of the gateway sees a scan twice. pages/s: a round's pages over the wall time of its runs
(the HTTP request, the ``ocrmypdf`` process); CPU s/page: the CPU time of all the system's processes over those
runs (the gateway's threads and the workers it waits for; ``ocrmypdf`` and everything it starts), the figure
other jobs on the machine do not blur. The text layer is read back with poppler's ``pdftotext``; CER
(``tests.pages``: NFKC, whitespace normalised) and word recall (``tests.scans``: the printed words, and each CJK
character, found; normalised alike) against the printed lines, the same for both; readings are deterministic, so
they are the first round's. ``--profile`` adds where the gateway's time goes, each part measured on its own:
rendering the pages, the engine reading them, and the OCRmyPDF pass (``profile``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pikepdf
import psutil

from adapters.rapidocr_engine import RapidOCRPromptBuilder
from bench.frontend_cpu import spread
from bench.tesseract import require_languages
from gateway.documents.page_lines import PageLines
from gateway.documents.searchable import searchable_pdf
from gateway.media.pdf import render_pdf
from prompts.spotting import Box
from tests.pages import Page, character_errors, cjk_page, latin_page, normalised
from tests.scans import image_only_pdf, pdftotext, recall
from tests.servers import start_gateway, stop_gateway

SYSTEMS = ("gateway", "ocrmypdf")
TESSERACT_LANGUAGES = {"eng": "eng", "chi_sim": "eng+chi_sim"}
SCRIPTS: dict[str, Callable[[int, int], Page]] = {"latin": latin_page, "cjk": cjk_page}
PARTS = ("format_pdf", "rendering", "engine", "ocrmypdf_pass")
TIMEOUT = 1800.0  # seconds for one PDF, either way


@dataclass(frozen=True)
class Scan:
    """An image-only PDF of known pages."""

    name: str
    dpi: int
    pages: list[Page]

    @property
    def lines(self) -> list[str]:
        return [line for page in self.pages for line in page.lines]

    def pdf(self, title: str) -> bytes:
        return image_only_pdf([page.image.convert("L") for page in self.pages], self.dpi, f"{self.name}, {title}")


@dataclass
class Made:
    """One system on one scan: its seconds in each round, and what its text layer reads (first round)."""

    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    text: str = ""
    pdfa: bool = False
    errors: int = 0
    characters: int = 0

    def judge(self, scan: Scan, output: Path) -> None:
        with pikepdf.open(output) as made:
            self.pdfa = bool(made.open_metadata().pdfa_status)
        self.text = pdftotext(output)
        self.errors, self.characters = character_errors(scan.lines, self.text)


class System(Protocol):
    """A way to make a scan searchable, and the CPU time it has used so far (all its processes)."""

    def make(self, source: Path, scan: Scan, output: Path) -> None: ...

    def cpu(self) -> float: ...


@dataclass
class Gateway:
    """A running gateway, asked over one HTTP connection."""

    root_url: str
    client: httpx.Client
    process: psutil.Process

    def make(self, source: Path, scan: Scan, output: Path) -> None:
        output.write_bytes(self._post(source, {"format": "pdf"}).content)

    def cpu(self) -> float:
        """Its own threads' CPU time and that of the workers it has waited for (PDF rendering, OCRmyPDF)."""
        times = self.process.cpu_times()
        return float(times.user + times.system + times.children_user + times.children_system)

    def spotted(self, source: Path) -> dict[str, Any]:
        """``/ocr``'s JSON answer for the scan's pages read with the spotting task."""
        answer: dict[str, Any] = self._post(source, {"task": "spotting"}).json()
        return answer

    def _post(self, source: Path, params: dict[str, str]) -> httpx.Response:
        headers = {"Content-Type": "application/pdf"}
        response = self.client.post(f"{self.root_url}/ocr", params=params, content=source.read_bytes(), headers=headers)
        response.raise_for_status()
        return response


@contextmanager
def gateway(log: Path) -> Iterator[Gateway]:
    """``ocr-gateway serve --engine rapidocr`` on a free 127.0.0.1 port."""
    process, root_url = start_gateway("tencent/HunyuanOCR", log, "--engine", "rapidocr", served_name=None, timeout=240)
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            yield Gateway(root_url, client, psutil.Process(process.pid))
    finally:
        stop_gateway(process)


class OCRmyPDF:
    """The ``ocrmypdf`` command line with Tesseract."""

    def make(self, source: Path, scan: Scan, output: Path) -> None:
        languages = TESSERACT_LANGUAGES[scan.pages[0].language]
        command = [sys.executable, "-m", "ocrmypdf", "-q", "-l", languages, "--output-type", "auto", "--optimize", "0"]
        subprocess.run([*command, str(source), str(output)], check=True, timeout=TIMEOUT)

    def cpu(self) -> float:
        return children_cpu()


def children_cpu() -> float:
    """CPU time of this process's children that have ended (and theirs: Tesseract, OCRmyPDF's workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def scans(pages: int, dpis: list[int], scripts: list[str]) -> list[Scan]:
    """One scan per resolution and script, of ``pages`` different pages."""
    return [
        Scan(f"{script} {dpi} dpi", dpi, [SCRIPTS[script](dpi, seed) for seed in range(pages)])
        for dpi in dpis
        for script in scripts
    ]


def timed(system: System, scan: Scan, title: str, folder: Path) -> tuple[float, float, Path]:
    """``system`` on a PDF of ``scan`` titled ``title`` (made before the clock starts): its wall and CPU seconds,
    and its output."""
    stem = f"{scan.name} {title}".replace(" ", "-")
    source, output = folder / f"{stem}.pdf", folder / f"{stem}.searchable.pdf"
    source.write_bytes(scan.pdf(title))
    cpu, started = system.cpu(), time.perf_counter()
    system.make(source, scan, output)
    return time.perf_counter() - started, system.cpu() - cpu, output


def measure(
    systems: dict[str, System], documents: list[Scan], rounds: int, folder: Path, warm_up: bool
) -> dict[str, dict[str, Made]]:
    """Every scan made searchable by every system, ``rounds`` times, the systems' order alternating."""
    made = {name: {scan.name: Made() for scan in documents} for name in systems}
    for name, system in systems.items() if warm_up else ():
        timed(system, Scan("warm-up", documents[0].dpi, documents[0].pages[:1]), name, folder)
    for number in range(1, rounds + 1):
        order = list(systems) if number % 2 else list(systems)[::-1]
        for name in order:
            for scan in documents:
                seconds, cpu, output = timed(systems[name], scan, f"round {number}", folder)
                made[name][scan.name].seconds.append(seconds)
                made[name][scan.name].cpu_seconds.append(cpu)
                if number == 1:
                    made[name][scan.name].judge(scan, output)
            pages = sum(len(scan.pages) for scan in documents)
            took, cpu = (
                sum(getattr(made[name][scan.name], key)[-1] for scan in documents) for key in ("seconds", "cpu_seconds")
            )
            print(
                f"round {number} {name:9s} {pages} pages in {took:.1f} s = {pages / took:.3f} pages/s; "
                f"CPU {cpu / pages:.2f} s/page",
                flush=True,
            )
    return made


def per_round(made: dict[str, Made], documents: list[Scan], key: str) -> list[float]:
    """``documents``' seconds (``key``: ``seconds`` or ``cpu_seconds``) per page, in each round."""
    pages = sum(len(scan.pages) for scan in documents)
    rounds = zip(*(getattr(made[scan.name], key) for scan in documents), strict=True)
    return [sum(seconds) / pages for seconds in rounds]


def accuracy(made: dict[str, Made], documents: list[Scan]) -> tuple[float, float]:
    """CER and word recall of one system's text layers of ``documents``, read as one text."""
    cells = [made[scan.name] for scan in documents]
    truth = "\n".join(line for scan in documents for line in scan.lines)
    found = "\n".join(cell.text for cell in cells)
    cer = sum(cell.errors for cell in cells) / sum(cell.characters for cell in cells)
    # Normalised as for the CER: Tesseract's "," for a printed "，" is no word missed.
    return cer, recall(normalised(truth), normalised(found))


def totals(made: dict[str, dict[str, Made]], documents: list[Scan]) -> dict[str, Any]:
    """``documents`` as one: pages, each system's pages/s per round, CER and word recall, and the speed ratio
    ours/theirs over paired rounds."""
    speed = {system: [1 / seconds for seconds in per_round(made[system], documents, "seconds")] for system in SYSTEMS}
    judged = {system: accuracy(made[system], documents) for system in SYSTEMS}
    return {
        "pages": sum(len(scan.pages) for scan in documents),
        "pages_per_s": speed,
        "speed_ratio": [ours / theirs for ours, theirs in zip(*speed.values(), strict=True)],
        "cpu_s_per_page": {system: per_round(made[system], documents, "cpu_seconds") for system in SYSTEMS},
        "cer": {system: cer for system, (cer, _) in judged.items()},
        "word_recall": {system: found for system, (_, found) in judged.items()},
    }


def groups(documents: list[Scan]) -> dict[str, list[Scan]]:
    """The table's rows: each scan, each script's scans, all of them."""
    rows = {scan.name: [scan] for scan in documents}
    for script in SCRIPTS:
        if in_script := [scan for scan in documents if scan.name.startswith(script)]:
            rows[f"**all {script}**"] = in_script
    return {**rows, "**all**": documents}


def table(made: dict[str, dict[str, Made]], documents: list[Scan]) -> tuple[str, dict[str, Any]]:
    """The printed table, and its numbers by row."""
    ours, theirs = SYSTEMS
    lines = [
        f"| scan | pages | {ours} pages/s | {theirs} pages/s | {ours}/{theirs} speed | {ours} CPU s/page "
        f"| {theirs} CPU s/page | {ours} CER | {theirs} CER | {ours} word recall | {theirs} word recall |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    numbers = {label: totals(made, group) for label, group in groups(documents).items()}
    for label, row in numbers.items():
        speed = [spread(row["pages_per_s"][system], 3) for system in SYSTEMS] + [spread(row["speed_ratio"])]
        speed += [spread(row["cpu_s_per_page"][system]) for system in SYSTEMS]
        cer = [f"{row['cer'][system]:.4f}" for system in SYSTEMS]
        found = [f"{row['word_recall'][system]:.4f}" for system in SYSTEMS]
        lines.append("| " + " | ".join([label, str(row["pages"]), *speed, *cer, *found]) + " |")
    pdfa = ", ".join(f"{s} {sum(m.pdfa for m in made[s].values())}/{len(documents)}" for s in SYSTEMS)
    return "\n".join([*lines, f"PDF/A made: {pdfa} scans"]), numbers


def profile(service: Gateway, scan: Scan, made: Made, folder: Path) -> dict[str, float]:
    """Seconds per page, wall and CPU, of the gateway's ``format=pdf`` on ``scan`` (the rounds' mean) and of its
    parts measured one by one: rendering (the gateway's own ``media_ms``; CPU: its PDF worker run here), the
    engine reading the pages (the rest of ``/ocr?task=spotting`` as JSON) and the OCRmyPDF pass (the gateway's
    ``searchable_pdf`` run here on those lines)."""
    source = folder / f"{scan.name}-profile.pdf".replace(" ", "-")
    source.write_bytes(data := scan.pdf("profile"))
    cpu = service.cpu()
    answer = service.spotted(source)
    spotting_cpu = service.cpu() - cpu
    cpu, budget = children_cpu(), RapidOCRPromptBuilder().image_budget()
    images = asyncio.run(
        render_pdf(data, max_pages=len(scan.pages), max_pixels=budget.max_pixels, timeout=TIMEOUT, param="file")
    )
    rendering_cpu = children_cpu() - cpu
    lines = [
        PageLines.from_boxes(
            page["index"] + 1, [Box(box["text"], tuple(box["box"])) for box in page["boxes"]], *image.size
        )
        for page, image in zip(answer["pages"], images, strict=True)
    ]
    cpu, started = children_cpu(), time.perf_counter()
    asyncio.run(searchable_pdf(data, lines, timeout=TIMEOUT))
    ocrmypdf_pass = (time.perf_counter() - started, children_cpu() - cpu)
    media, total = answer["timings"]["media_ms"] / 1000, answer["timings"]["total_ms"] / 1000
    parts = {
        "format_pdf": (statistics.fmean(made.seconds), statistics.fmean(made.cpu_seconds)),
        "rendering": (media, rendering_cpu),
        "engine": (total - media, spotting_cpu - rendering_cpu),
        "ocrmypdf_pass": ocrmypdf_pass,
    }
    pages = len(scan.pages)
    return {
        f"{part}_{kind}": value / pages
        for part, both in parts.items()
        for kind, value in zip(("s", "cpu_s"), both, strict=True)
    }


def print_profile(split: dict[str, dict[str, float]]) -> None:
    print("\ngateway, seconds per page: wall (CPU)")
    print("| scan | format=pdf | rendering | engine read | OCRmyPDF pass |\n|---|---|---|---|---|")
    for name, parts in split.items():
        cells = [f"{parts[f'{part}_s']:.2f} ({parts[f'{part}_cpu_s']:.2f})" for part in PARTS]
        print(f"| {name} | " + " | ".join(cells) + " |")


@dataclass(frozen=True)
class Options:
    pages: int
    dpis: list[int]
    scripts: list[str]
    rounds: int
    warm_up: bool
    profile: bool
    json_path: Path | None


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one Latin 100-dpi page, one round, no warm-up")
    parser.add_argument("--pages", type=int, default=3, help="pages per scan")
    parser.add_argument("--dpi", type=int, nargs="+", default=[300, 200], help="scan resolutions")
    parser.add_argument("--scripts", nargs="+", default=list(SCRIPTS), choices=list(SCRIPTS), help="scans' text")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per system, alternating")
    parser.add_argument("--profile", action="store_true", help="also split the gateway's time per scan")
    parser.add_argument("--json", type=Path, default=None, dest="json_path", help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        return Options(1, [100], ["latin"], 1, False, args.profile, args.json_path)
    return Options(args.pages, args.dpi, args.scripts, args.rounds, True, args.profile, args.json_path)


def main() -> None:
    options = parse_options()
    require_languages()
    started = time.monotonic()
    documents = scans(options.pages, options.dpis, options.scripts)
    with (
        tempfile.TemporaryDirectory(prefix="searchable-bench-") as scratch,
        gateway(Path(scratch, "gateway.log")) as service,
    ):
        folder = Path(scratch)
        print(
            f"[{time.monotonic() - started:.0f} s] gateway up; {len(documents)} scans × {options.pages} pages; "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        systems: dict[str, System] = {"gateway": service, "ocrmypdf": OCRmyPDF()}
        made = measure(systems, documents, options.rounds, folder, options.warm_up)
        printed, numbers = table(made, documents)
        print(printed, flush=True)
        split = (
            {s.name: profile(service, s, made["gateway"][s.name], folder) for s in documents} if options.profile else {}
        )
    if split:
        print_profile(split)
    if options.json_path:
        results = {system: {name: asdict(cell) for name, cell in cells.items()} for system, cells in made.items()}
        report = {"options": asdict(options) | {"json_path": None}, "rows": numbers, "made": results, "profile": split}
        options.json_path.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(f"total {time.monotonic() - started:.0f} s; load average {os.getloadavg()[0]:.1f} at the end", flush=True)


if __name__ == "__main__":
    main()
