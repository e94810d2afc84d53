"""Content benchmark: importing a large pack, serving content files next to nginx, and search latency.

Run from the repository root:

    python benchmarks/content.py [--pack-mib 1024] [--connections 50] [--duration 20] [--out docs/BENCHMARKS.md]

1. Import: generates a pack source of incompressible files of 16 MiB (`--pack-mib` in all), signs it
   with `classroom-server pack keygen` + `pack build`, and times `classroom-server pack import` into
   a fresh data folder (seconds, MiB/s, the import process's peak RSS), then a re-import of the same
   pack (a no-op) and an update in which 5 % of the files changed (new version).
2. Content files: a 2 MiB file at its content-addressed URL `/content/<sha256>/<name>` of the real
   `classroom-server serve`, and the same blob file served by nginx (sendfile) in the same run, under
   wrk; then the same with a `Range` request of 128 KiB in the middle of the file.
3. Search: the demo school's sample packs plus a generated library of lesson pages in Kazakh and
   Russian; `/api/v1/search` for about twenty queries as a signed-in student, one at a time and
   under wrk.

Everything runs on loopback in one temporary folder, which is removed at the end (several GB).
It prints tables and replaces its section of the report. It reports figures; it asserts none.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import html
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlencode, urlsplit

from harness import (REPO, BenchmarkError, CpuUse, Memory, NginxProcess, WrkResult, clean_env, console_script,
                     http_session, machine_busy, machine_facts, markdown_table, measured_on, own_cpu, parse_wrk,
                     percentile, process_cpu, replace_section, start_server, text_table)

NAME = "content"
SERVER_THREADS = 8
MIB = 1024 * 1024
FILE_MIB = 16  # size of each file of the large pack
UPDATE_SHARE = 0.05  # share of the large pack's files that change in the update
SAMPLE_BYTES = 2 * MIB  # the file served under load
RANGE_FIRST, RANGE_LAST = 1048576, 1179647  # 128 KiB from the middle of the sample file
NGINX_WORKERS = 2  # one per core of the machine the targets were set for
SEARCH_CONNECTIONS = 10
SEARCH_SEQUENTIAL = 500
SESSION_COOKIE = "classroom_session"
QUIET_CORE_PCT = 25.0  # a load starts once the rest of the machine uses less than this ...
QUIET_WAIT_S = 90  # ... or after this long
NOISY_CORE_PCT = 40.0  # a load during which the rest of the machine used more is measured once more
# Targets from the brief; reported next to the figures, never asserted.
TARGET_RATIO = 0.5
TARGET_SEARCH_P99_MS = 50.0


# --- running a command and measuring it ---------------------------------------------------------

@dataclass(frozen=True)
class Timed:
    """A finished command: wall time and the peak RSS of that one process (from wait4)."""
    seconds: float
    peak_rss_mib: float
    stdout: str
    stderr: str


def run_timed(argv: Sequence[str], env: dict[str, str], timeout: float) -> Timed:
    """Run `argv` to the end; raise BenchmarkError if it fails or outlives `timeout` seconds.

    os.wait4 gives the rusage of exactly this child; RUSAGE_CHILDREN would be the maximum over every
    child this process has waited for, so an earlier, bigger child would hide this one's peak.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait for it again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        why = f"was killed after {timeout:.0f} s" if seconds >= timeout else f"failed (exit {proc.returncode})"
        raise BenchmarkError(f"{' '.join(argv[:6])} ... {why}:\n{stdout}{stderr[-3000:]}")
    return Timed(seconds, usage.ru_maxrss / 1024, stdout, stderr)  # ru_maxrss is in KiB on Linux


def cli(data_dir: Path | None, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Timed:
    """`classroom-server [--data-dir D] ARGS`, timed, without the caller's CLASSROOM_* settings."""
    argv = [console_script("classroom-server")] + (["--data-dir", str(data_dir)] if data_dir else []) + list(args)
    return run_timed(argv, env or clean_env(), timeout)


def keygen(folder: Path) -> tuple[Path, str]:
    """A signing key file and its public key, as `pack keygen` prints it."""
    path = folder / "signing-key.pem"
    printed = cli(None, "pack", "keygen", "-o", str(path)).stdout
    match = re.search(r"^public key:\s+(\S+)", printed, re.MULTILINE)
    if match is None:
        raise BenchmarkError(f"pack keygen printed no public key:\n{printed}")
    return path, match.group(1)


def trusting(public_key: str) -> dict[str, str]:
    """The environment of an import that trusts packs signed with `public_key`."""
    return {**clean_env(), "CLASSROOM_CONTENT_TRUSTED_KEYS": public_key}


def manifest(pack_id: str, version: str, title: str, subject: str, grades: list[int],
             nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """A pack.json without `files` (pack build adds them)."""
    return {"format_version": 1, "id": pack_id, "version": version,
            "title": {"kk": title, "ru": title}, "subject": subject, "grades": grades,
            "languages": ["kk", "ru"], "license": "CC-BY-4.0", "authors": ["benchmarks/content.py"],
            "review": {"status": "approved", "body": "Benchmark reviewers", "date": "2026-11-01"},
            "nodes": nodes}


def write_manifest(folder: Path, data: dict[str, Any]) -> None:
    (folder / "pack.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


# --- 1. importing a large pack ------------------------------------------------------------------

@dataclass(frozen=True)
class ImportFigures:
    pack_mib: int
    files: int
    build: Timed
    first: Timed
    again: Timed
    changed: int  # files changed for the update
    update_build: Timed
    update: Timed
    update_files_stored: int
    update_bytes_stored: int
    store_bytes_after: int  # the blob store after the update (old blobs collected)
    scaled_note: str  # why --pack-mib was scaled down, or ""


def choose_pack_mib(wanted: int, folder: Path) -> tuple[int, str]:
    """The pack size that fits the free disk: source, two .ckpack files and the store at once."""
    free_mib = shutil.disk_usage(folder).free // MIB
    # source + v1 .ckpack + blob store + v2 .ckpack + 5 % new blobs, and 1 GiB left for everyone else
    needed = 4 * wanted + 1024
    if needed <= free_mib:
        return wanted, ""
    scaled = (free_mib - 1024) // 4 // FILE_MIB * FILE_MIB
    if scaled < 4 * FILE_MIB:
        raise BenchmarkError(f"only {free_mib} MiB free in {folder}: the import benchmark needs about "
                             f"{4 * 4 * FILE_MIB + 1024} MiB even at its smallest; free space or set TMPDIR")
    note = (f"--pack-mib {wanted} needs about {needed} MiB of free disk in {folder} and only {free_mib} MiB "
            f"are free: scaled down to {scaled} MiB")
    print(f"content: {note}", file=sys.stderr)
    return scaled, note


def make_big_source(folder: Path, pack_mib: int) -> list[Path]:
    """One topic with a video node per incompressible 16 MiB file (`.mp4`, so the zip stores them)."""
    media = folder / "media"
    media.mkdir(parents=True)
    count = max(1, pack_mib // FILE_MIB)
    paths = []
    for i in range(count):
        path = media / f"clip-{i:04d}.mp4"
        path.write_bytes(os.urandom(FILE_MIB * MIB))
        paths.append(path)
    nodes = [{"id": "videos", "kind": "topic", "title": {"kk": "Бейнесабақтар", "ru": "Видеоуроки"},
              "children": [{"id": f"clip-{i:04d}", "kind": "media", "media_type": "video",
                            "title": {"kk": f"{i + 1}-бейне", "ru": f"Видео {i + 1}"},
                            "media": {"kk": f"media/{p.name}"}} for i, p in enumerate(paths)]}]
    write_manifest(folder, manifest("bench.big-video", "1.0.0", "Бейне / Видео", "science", [7], nodes))
    return paths


def measure_import(work: Path, wanted_mib: int, key: Path, public_key: str) -> ImportFigures:
    pack_mib, note = choose_pack_mib(wanted_mib, work)
    source, data_dir = work / "big-source", work / "big-school"
    # Seconds allowed per command: generous for a slow disk, but bounded.
    limit = 120 + pack_mib / 4
    print(f"content: writing {pack_mib} MiB of random files ...", file=sys.stderr)
    files = make_big_source(source, pack_mib)
    cli(data_dir, "migrate")  # so the import timing does not include creating the database
    v1, v2 = work / "big-1.0.0.ckpack", work / "big-1.1.0.ckpack"
    print("content: pack build, pack import, import again ...", file=sys.stderr)
    build = cli(None, "pack", "build", str(source), "-o", str(v1), "--key", str(key), timeout=limit)
    first = cli(data_dir, "pack", "import", str(v1), env=trusting(public_key), timeout=limit)
    if "installed bench.big-video 1.0.0" not in first.stdout:
        raise BenchmarkError(f"the first import did not install the pack:\n{first.stdout}")
    again = cli(data_dir, "pack", "import", str(v1), env=trusting(public_key), timeout=limit)
    if "is installed already" not in again.stdout:
        raise BenchmarkError(f"importing the same pack again was not a no-op:\n{again.stdout}")
    v1.unlink()  # room for the next version

    changed = max(1, round(len(files) * UPDATE_SHARE))
    for path in random.Random(7).sample(files, changed):
        path.write_bytes(os.urandom(FILE_MIB * MIB))
    data = json.loads((source / "pack.json").read_text(encoding="utf-8"))
    write_manifest(source, {**data, "version": "1.1.0"})
    print(f"content: update with {changed} changed files ...", file=sys.stderr)
    update_build = cli(None, "pack", "build", str(source), "-o", str(v2), "--key", str(key), timeout=limit)
    update = cli(data_dir, "pack", "import", str(v2), env=trusting(public_key), timeout=limit)
    stored = re.search(r"installed bench\.big-video 1\.1\.0, was 1\.0\.0; (\d+) new files, (\d+) bytes",
                       update.stdout)
    if stored is None:
        raise BenchmarkError(f"the update did not install version 1.1.0:\n{update.stdout}")
    return ImportFigures(pack_mib, len(files), build, first, again, changed, update_build, update,
                         int(stored.group(1)), int(stored.group(2)), folder_bytes(data_dir / "content" / "blobs"),
                         note)


# --- the school used for serving and search ------------------------------------------------------

# Words for generated lesson pages: a pool every subject uses, and one per subject. The order
# matters: earlier words are drawn more often (Zipf), so some queries match most pages, some few.
COMMON = {
    "kk": "сабақ оқушы мұғалім мектеп кітап білім тапсырма мысал жауап сұрақ мәтін сурет кесте ереже әдіс "
          "нәтиже тарау жаттығу қорытынды түсінік маңызды негізгі қарапайым күрделі үлкен кіші жаңа әр барлық "
          "бірнеше алғашқы келесі оқу жазу есептеу салыстыру табу түсіндіру көрсету қолдану білу айту қарау "
          "және бірақ сондықтан себебі мысалы яғни өте тағы біз олар бұл сол осы",
    "ru": "урок ученик учитель школа книга знание задание пример ответ вопрос текст рисунок таблица правило "
          "способ результат раздел глава упражнение вывод понятие важный основной простой сложный большой "
          "малый новый каждый все несколько первый следующий читать писать вычислять сравнивать найти "
          "объяснить показать применять знать сказать рассмотреть и но поэтому потому например очень ещё мы "
          "они это тот этот",
}
SUBJECTS = {
    # subject: (grades, Kazakh words, Russian words)
    "mathematics": ([5, 6],
                    "сан бөлшек алым бөлім теңдеу қосу азайту көбейту бөлу жай ондық пайыз үшбұрыш шеңбер аудан "
                    "периметр бұрыш түзу нүкте өрнек айнымалы функция график квадрат түбір дәреже көбейткіш "
                    "ортақ еселік қатынас пропорция теңсіздік",
                    "число дробь дроби числитель знаменатель уравнение сложение вычитание умножение деление "
                    "простые числа десятичная процент треугольник окружность площадь периметр угол прямая "
                    "точка выражение переменная функция график квадрат корень степень множитель общий "
                    "кратное отношение пропорция неравенство"),
    "history": ([8, 9],
                "тарих хан хандық мемлекет халық соғыс бейбітшілік дала көшпенді қала жазба ескерткіш ғасыр "
                "дәуір билеуші елші сауда жол Жібек жолы тайпа жүз би батыр шежіре мәдениет дәстүр тәуелсіздік "
                "астана археология қорған",
                "история хан ханство государство народ война мир степь кочевники город летопись памятник век "
                "эпоха правитель посол торговля путь Шёлковый путь племя жуз бий батыр родословная культура "
                "традиция независимость столица археология курган"),
    "biology": ([6, 7],
                "жасуша өсімдік жануар ағза тұқым жапырақ тамыр гүл жеміс су ауа күн фотосинтез тыныс қан "
                "жүрек ми сүйек бұлшықет тағам ақуыз май көмірсу дәрумен бактерия саңырауқұлақ экожүйе орман "
                "тіршілік ген",
                "клетка растение животное организм семя лист корень цветок плод вода воздух солнце фотосинтез "
                "дыхание кровь сердце мозг кость мышца пища белок жир углевод витамин бактерия гриб экосистема "
                "лес жизнь ген"),
    "physics": ([7, 8],
                "күш жылдамдық масса энергия жарық дыбыс толқын электр ток кернеу кедергі магнит қысым "
                "температура жылу үйкеліс салмақ қозғалыс уақыт қашықтық үдеу тербеліс линза айна атом "
                "молекула зат сұйық газ қатты",
                "сила скорость масса энергия свет звук волна электричество ток напряжение сопротивление "
                "магнит давление температура тепло трение вес движение время расстояние ускорение колебание "
                "линза зеркало атом молекула вещество жидкость газ твёрдое"),
}
# (label, query parameters): Kazakh and Russian words, prefixes, two words, filters, a miss.
QUERIES: list[dict[str, str]] = [
    {"q": "бөлшек"}, {"q": "бөл"}, {"q": "теңдеу"}, {"q": "хандық"}, {"q": "жасуша"}, {"q": "жылдамдық"},
    {"q": "сабақ"}, {"q": "бөлшек алым"}, {"q": "тәуелсіздік", "subject": "history"},
    {"q": "өсімдік", "grade": "6"}, {"q": "дробь"}, {"q": "дроб"}, {"q": "уравнение"}, {"q": "ханство"},
    {"q": "клетка", "grade": "7"}, {"q": "скорость", "subject": "physics"}, {"q": "урок"},
    {"q": "фотосинтез", "language": "ru"}, {"q": "простые числа"}, {"q": "Шёлковый путь"}, {"q": "зебра"},
]


class Words:
    """Draws words with Zipf weights from a common pool and a subject pool."""

    def __init__(self, rng: random.Random, common: str, subject: str):
        self.rng = rng
        self.pools = [(words, [1 / (rank + 1) for rank in range(len(words))])
                      for words in (common.split(), subject.split())]

    def sentence(self, length: int) -> str:
        picked = [self.rng.choices(*self.pools[self.rng.random() < 0.45])[0] for _ in range(length)]
        text = " ".join(picked)
        return text[0].upper() + text[1:] + "."


def lesson_html(language: str, title: str, words: Words) -> str:
    paragraphs = "\n".join("<p>" + " ".join(words.sentence(words.rng.randint(8, 14)) for _ in range(5)) + "</p>"
                           for _ in range(6))
    return (f"<!doctype html><html lang='{language}'><meta charset='utf-8'><title>{title}</title>\n"
            f"<h1>{title}</h1>\n{paragraphs}\n</html>\n")


def make_library(folder: Path, lessons: int) -> list[Path]:
    """Packs of generated lessons (one per subject, topics of 50 lessons), each page in Kazakh and Russian."""
    rng = random.Random(2026)
    sources = []
    per_subject = max(1, lessons // len(SUBJECTS))
    for subject, (grades, kk_words, ru_words) in SUBJECTS.items():
        source = folder / f"library-{subject}"
        (source / "lessons").mkdir(parents=True)
        words = {"kk": Words(rng, COMMON["kk"], kk_words), "ru": Words(rng, COMMON["ru"], ru_words)}
        topics: list[dict[str, Any]] = []
        for i in range(per_subject):
            if i % 50 == 0:
                topics.append({"id": f"t{i // 50 + 1:03d}", "kind": "topic",
                               "title": {"kk": f"{i // 50 + 1}-бөлім", "ru": f"Раздел {i // 50 + 1}"},
                               "children": []})
            titles = {"kk": f"{i + 1}-сабақ: " + words["kk"].sentence(3).rstrip("."),
                      "ru": f"Урок {i + 1}: " + words["ru"].sentence(3).rstrip(".")}
            content = {}
            for language, title in titles.items():
                rel = f"lessons/l{i + 1:04d}.{language}.html"
                (source / rel).write_text(lesson_html(language, title, words[language]), encoding="utf-8")
                content[language] = rel
            topics[-1]["children"].append({"id": f"l{i + 1:04d}", "kind": "lesson", "title": titles,
                                           "content": content})
        write_manifest(source, manifest(f"bench.library.{subject}", "1.0.0", f"Library: {subject}", subject,
                                        grades, topics))
        sources.append(source)
    return sources


def make_sample_source(folder: Path) -> tuple[Path, str]:
    """A pack with one 2 MiB random video; returns the folder and the file's SHA-256."""
    body = os.urandom(SAMPLE_BYTES)
    (folder / "media").mkdir(parents=True)
    (folder / "media" / "sample.mp4").write_bytes(body)
    nodes = [{"id": "sample", "kind": "media", "media_type": "video", "title": {"kk": "Бейне", "ru": "Видео"},
              "media": {"kk": "media/sample.mp4"}}]
    write_manifest(folder, manifest("bench.sample-video", "1.0.0", "Бейне / Видео", "science", [6], nodes))
    return folder, hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class School:
    data_dir: Path
    pin_class: str
    pin: str
    sample_sha: str
    library_pages: int
    library_bytes: int
    library_import: Timed


def make_school(work: Path, key: Path, public_key: str, lessons: int) -> School:
    """The demo school, plus the 2 MiB sample pack and the generated library, imported signed."""
    data_dir = work / "school"
    demo = cli(data_dir, "demo", "--no-serve")
    pin = re.search(r"students of (.+?): .*then PIN (\d+)$", demo.stdout, re.MULTILINE)
    if pin is None:
        raise BenchmarkError(f"classroom-server demo printed no class that signs in with a PIN:\n{demo.stdout}")
    sample_source, sha = make_sample_source(work / "sample-source")
    sample = work / "sample.ckpack"
    cli(None, "pack", "build", str(sample_source), "-o", str(sample), "--key", str(key))
    cli(data_dir, "pack", "import", str(sample), env=trusting(public_key))
    print(f"content: generating and importing a library of {lessons} lessons ...", file=sys.stderr)
    packs = []
    for source in make_library(work / "library", lessons):
        packs.append(work / f"{source.name}.ckpack")
        cli(None, "pack", "build", str(source), "-o", str(packs[-1]), "--key", str(key))
    pages: list[zipfile.ZipInfo] = []
    for pack in packs:
        with zipfile.ZipFile(pack) as archive:
            pages += [info for info in archive.infolist() if info.filename.startswith("lessons/")]
    imported = cli(data_dir, "pack", "import", *map(str, packs), env=trusting(public_key), timeout=900)
    if imported.stdout.count("installed bench.library.") != len(packs):
        raise BenchmarkError(f"the library packs were not all installed:\n{imported.stdout}")
    return School(data_dir, pin.group(1), pin.group(2), sha, len(pages), sum(p.file_size for p in pages), imported)


# --- CPU use and a quiet machine ----------------------------------------------------------------

class GroupMeter:
    """CPU use over a span of a server made of several processes (nginx), of us and wrk, and of the rest."""

    def __init__(self, pids: Sequence[int]):
        self.pids = list(pids)
        self._start = self._now()

    def _now(self) -> tuple[float, float, float, float]:
        return time.perf_counter(), sum(process_cpu(p) for p in self.pids), own_cpu(), machine_busy()

    def stop(self) -> CpuUse:
        wall, server, client, machine = (now - then for now, then in zip(self._now(), self._start))
        return CpuUse(100 * server / wall, 100 * client / wall, max(0.0, 100 * (machine - server - client) / wall))


def wait_until_quiet() -> float:
    """Wait until the rest of the machine is nearly idle (others share it), at most QUIET_WAIT_S.

    Returns the last second's CPU use of the whole machine, in percent of one core.
    """
    deadline = time.perf_counter() + QUIET_WAIT_S
    told = False
    while True:
        before = machine_busy()
        time.sleep(1)
        busy = 100 * (machine_busy() - before)
        if busy < QUIET_CORE_PCT or time.perf_counter() > deadline:
            return busy
        if not told:
            print(f"content: the machine is busy ({busy:.0f} % of a core); waiting up to {QUIET_WAIT_S} s",
                  file=sys.stderr)
            told = True


# --- wrk with our own Lua -----------------------------------------------------------------------

LUA = """\
-- Generated by benchmarks/content.py: each thread cycles through the paths, starting at its own offset.
local paths = {%(paths)s}
local headers = {%(headers)s}
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  turn = tid
  reqs = {}
  for i, path in ipairs(paths) do
    reqs[i] = wrk.format("GET", path, headers)
  end
end

function request()
  turn = turn %% #reqs + 1
  return reqs[turn]
end
%(response)s
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("non200") or 0)
  end
  -- With no response() below, wrk reads no statuses into Lua: report its own count of statuses
  -- outside 2xx/3xx instead, under the name the harness's parser reads.
  if %(counted)s then
    total = summary.errors.status
  end
  io.write(string.format("non-200 responses: %%d\\n", total))
end
"""

LUA_RESPONSE = """
function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end
"""


def lua_string(text: str) -> str:
    if not re.fullmatch(r"[\x20-\x7e]*", text) or '"' in text or "\\" in text:
        raise BenchmarkError(f"{text!r} cannot be put in a Lua string as is")
    return json.dumps(text)


def run_wrk_paths(base_url: str, paths: Sequence[str], connections: int, duration: int,
                  headers: dict[str, str] | None = None, count_statuses: bool = True,
                  threads: int = 2) -> WrkResult:
    """wrk over `paths` in turn, as harness.run_wrk does over cookies.

    count_statuses=False leaves out the Lua response() callback: with it, wrk copies every body
    into Lua, which for a 2 MiB file costs the client (sharing the server's cores) more CPU than
    the server spends sending it. wrk still counts statuses outside 2xx/3xx itself.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchmarkError("wrk is not installed: apt-get install wrk")
    threads = max(1, min(threads, connections))
    script = LUA % {"paths": ", ".join(lua_string(p) for p in paths),
                    "headers": ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in (headers or {}).items()),
                    "response": LUA_RESPONSE if count_statuses else "",
                    "counted": "false" if count_statuses else "true"}
    timeout = duration + 60
    with tempfile.TemporaryDirectory(prefix="wrk-") as folder:
        path = Path(folder) / "script.lua"
        path.write_text(script, encoding="ascii")
        argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "30s",
                "-s", str(path), base_url]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchmarkError(f"wrk did not finish within {timeout} s") from None
    if done.returncode != 0:
        raise BenchmarkError(f"wrk failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


_SIZES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def transfer_per_s(result: WrkResult) -> float:
    """wrk's `Transfer/sec` line ("1.23GB", binary units) in bytes per second."""
    match = re.search(r"^Transfer/sec:\s+([\d.]+)([KMGT]?B)\s*$", result.output, re.MULTILINE)
    if match is None:
        raise BenchmarkError(f"wrk output has no Transfer/sec line:\n{result.output}")
    return float(match.group(1)) * _SIZES[match.group(2)]


# --- 2. content files, ours and nginx's ---------------------------------------------------------

def free_port() -> int:
    """A loopback port that was free a moment ago (nginx cannot be asked to pick one itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


NGINX_CONF = """\
# Written by benchmarks/content.py: one blob file, as nginx would serve the blob store directly.
%(user)s
worker_processes %(workers)d;
daemon off;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;  # waitress keeps a connection for ever too
    default_type video/mp4;
    client_body_temp_path %(tmp)s/body;
    proxy_temp_path %(tmp)s/proxy;
    fastcgi_temp_path %(tmp)s/fastcgi;
    uwsgi_temp_path %(tmp)s/uwsgi;
    scgi_temp_path %(tmp)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        location = /blob { alias %(blob)s; }
    }
}
"""


class Nginx(NginxProcess):
    """nginx serving one file, with its own config, pid file and logs in a temporary folder."""

    def __init__(self, blob: Path, folder: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/blob"
        # As root the workers would run as nobody, who cannot enter our 0700 temporary folder.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = folder / "nginx.conf"
        conf.write_text(NGINX_CONF % {"user": user, "workers": NGINX_WORKERS, "tmp": folder, "port": self.port,
                                      "blob": blob}, encoding="ascii")
        super().__init__(folder, conf, ("HEAD", self.url))


@dataclass(frozen=True)
class Load:
    result: WrkResult
    cpu: CpuUse  # server: all its processes

    @property
    def bytes_per_response(self) -> float:
        return transfer_per_s(self.result) / self.result.rps if self.result.rps else 0.0

    @property
    def mb_per_s(self) -> float:
        return transfer_per_s(self.result) / 1e6

    @property
    def errors(self) -> int:
        return self.result.non_2xx_3xx + sum(self.result.socket_errors.values())


def load(base_url: str, path: str, pids: list[int], connections: int, duration: int,
         headers: dict[str, str] | None = None) -> Load:
    """wrk on one path; measured a second time if other work took much CPU during the first, and the
    quieter of the two kept (other people's loads on this machine can halve a figure)."""
    best: Load | None = None
    for _ in range(2):
        wait_until_quiet()
        meter = GroupMeter(pids)
        result = run_wrk_paths(base_url, [path], connections, duration, headers, count_statuses=False)
        measured = Load(result, meter.stop())
        if best is None or measured.cpu.other < best.cpu.other:
            best = measured
        if best.cpu.other < NOISY_CORE_PCT:
            break
    assert best is not None
    return best


def check_file(url: str, body_sha: str) -> None:
    """The whole file and the benchmark's Range must come back right before we load them."""
    with http_session() as client:
        whole = client.get(url, timeout=30)
        if whole.status_code != 200 or hashlib.sha256(whole.content).hexdigest() != body_sha:
            raise BenchmarkError(f"GET {url}: {whole.status_code}, {len(whole.content)} bytes, not the sample file")
        part = client.get(url, headers={"Range": f"bytes={RANGE_FIRST}-{RANGE_LAST}"}, timeout=30)
        if part.status_code != 206 or part.content != whole.content[RANGE_FIRST:RANGE_LAST + 1]:
            raise BenchmarkError(f"GET {url} with Range: {part.status_code}, {len(part.content)} bytes; "
                                 f"expected 206 with bytes {RANGE_FIRST}-{RANGE_LAST}")


# The same blob through Flask's send_file on waitress and nothing else: what our server could reach
# without its own per-request work (database lookup, session, headers).
BARE_BLOB_APP = """\
import sys
from flask import Flask, send_file
from waitress import create_server

blob, threads = sys.argv[1], int(sys.argv[2])
app = Flask("bare_blob")


@app.get("/blob")
def blob_view():
    return send_file(blob, mimetype="video/mp4", conditional=True, etag=True, max_age=31536000)


@app.get("/healthz")
def healthz():
    return "ok"


server = create_server(app, host="127.0.0.1", port=0, threads=threads)
print(f"Serving on http://127.0.0.1:{server.effective_port}/", file=sys.stderr, flush=True)
try:
    server.run()
except KeyboardInterrupt:
    pass
"""


@dataclass(frozen=True)
class ServeFigures:
    ours: Load
    bare: Load
    nginx: Load
    ours_range: Load
    bare_range: Load
    nginx_range: Load
    headers: dict[str, str]  # of our 200 response, to show what a browser gets


def measure_serving(server_url: str, server_pid: int, school: School, folder: Path, connections: int,
                    duration: int) -> ServeFigures:
    sha = school.sample_sha
    path = f"/content/{sha}/sample.mp4"
    check_file(server_url + path.lstrip("/"), sha)
    with http_session() as client:
        headers = dict(client.head(server_url + path.lstrip("/"), timeout=30).headers)
    blob = school.data_dir / "content" / "blobs" / sha[:2] / sha
    ranged = {"Range": f"bytes={RANGE_FIRST}-{RANGE_LAST}"}
    bare_argv = [sys.executable, "-c", BARE_BLOB_APP, str(blob), str(SERVER_THREADS)]
    nginx = Nginx(blob, folder)
    try:
        nginx.start()
        check_file(nginx.url, sha)
        nginx_base = f"http://127.0.0.1:{nginx.port}"
        with start_server(bare_argv, env=clean_env()) as bare:
            check_file(bare.url + "blob", sha)
            print(f"content: 2 MiB file: ours, bare Flask, nginx, {duration} s each, whole then Range ...",
                  file=sys.stderr)
            ours = load(server_url, path, [server_pid], connections, duration)
            bare_full = load(bare.url, "/blob", [bare.proc.pid], connections, duration)
            theirs = load(nginx_base, "/blob", nginx.pids(), connections, duration)
            ours_range = load(server_url, path, [server_pid], connections, duration, ranged)
            bare_range = load(bare.url, "/blob", [bare.proc.pid], connections, duration, ranged)
            theirs_range = load(nginx_base, "/blob", nginx.pids(), connections, duration, ranged)
    finally:
        nginx.stop()
    return ServeFigures(ours, bare_full, theirs, ours_range, bare_range, theirs_range, headers)


# --- 3. search ----------------------------------------------------------------------------------

def sign_in_student(base_url: str, class_name: str, pin: str) -> str:
    """Sign in the first student of `class_name` as a child would; returns the Cookie header value."""
    with http_session() as client:
        page = client.get(base_url + "signin", timeout=30)
        classes = dict((html_text(name), path) for path, name in
                       re.findall(r'<a class="tile" href="(/signin/class/\d+)[^"]*">([^<]+)</a>', page.text))
        if class_name not in classes:
            raise BenchmarkError(f"class {class_name!r} is not on {base_url}signin")
        names = client.get(base_url + classes[class_name].lstrip("/"), timeout=30)
        student = re.search(r'<a class="tile" href="(/signin/class/\d+/student/\d+)[^"]*">', names.text)
        if student is None:
            raise BenchmarkError(f"no student links on {classes[class_name]}")
        url = base_url + student.group(1).lstrip("/")
        form = client.get(url, timeout=30)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        if token is None:
            raise BenchmarkError(f"GET {student.group(1)}: {form.status_code}, no CSRF token")
        answer = client.post(url, data={"csrf_token": token.group(1), "next": "", "pin": pin},
                             allow_redirects=False, timeout=30)
        cookie = answer.cookies.get(SESSION_COOKIE)
        if answer.status_code != 302 or urlsplit(answer.headers.get("Location", "")).path != "/learn/" or not cookie:
            raise BenchmarkError(f"POST {student.group(1)}: {answer.status_code}; expected 302 to /learn/")
    return f"{SESSION_COOKIE}={cookie}"


def html_text(text: str) -> str:
    return html.unescape(text).strip()


@dataclass(frozen=True)
class QueryFigure:
    params: dict[str, str]
    total: int  # hits the server counts
    p50_ms: float


@dataclass(frozen=True)
class SearchFigures:
    queries: list[QueryFigure]
    latencies_ms: list[float] = field(repr=False)
    wall: float
    sequential_cpu: CpuUse
    load: WrkResult
    load_cpu: CpuUse
    rows: int  # rows in the full-text index
    nodes: int
    db_bytes: int  # database file and its WAL

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.wall


def query_path(params: dict[str, str]) -> str:
    return "/api/v1/search?" + urlencode(params)


def measure_search(server_url: str, server_pid: int, school: School, duration: int) -> SearchFigures:
    cookie = sign_in_student(server_url, school.pin_class, school.pin)
    paths = [query_path(q) for q in QUERIES]
    per_query: dict[str, list[float]] = {p: [] for p in paths}
    totals: dict[str, int] = {}
    latencies: list[float] = []
    print(f"content: search, {SEARCH_SEQUENTIAL} requests one at a time, then wrk -c{SEARCH_CONNECTIONS} ...",
          file=sys.stderr)
    with http_session() as client:
        client.headers["Cookie"] = cookie
        for path in paths:  # one round to warm up and to check every answer
            answer = client.get(server_url + path.lstrip("/"), timeout=30)
            if answer.status_code != 200:
                raise BenchmarkError(f"GET {path}: {answer.status_code}\n{answer.text[:500]}")
            totals[path] = answer.json()["total"]
        wait_until_quiet()
        meter, started = GroupMeter([server_pid]), time.perf_counter()
        for i in range(SEARCH_SEQUENTIAL):
            path = paths[i % len(paths)]
            sent = time.perf_counter()
            answer = client.get(server_url + path.lstrip("/"), timeout=30)
            elapsed = (time.perf_counter() - sent) * 1000
            if answer.status_code != 200:
                raise BenchmarkError(f"GET {path}: {answer.status_code}")
            latencies.append(elapsed)
            per_query[path].append(elapsed)
        wall, sequential_cpu = time.perf_counter() - started, meter.stop()
    wait_until_quiet()
    meter = GroupMeter([server_pid])
    result = run_wrk_paths(server_url, paths, SEARCH_CONNECTIONS, duration, {"Cookie": cookie})
    load_cpu = meter.stop()
    database = school.data_dir / "classroom.sqlite3"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT COUNT(*) FROM content_search").fetchone()[0]
        nodes = db.execute("SELECT COUNT(*) FROM content_node").fetchone()[0]
    db_bytes = sum(p.stat().st_size for p in database.parent.glob(database.name + "*") if p.is_file())
    return SearchFigures([QueryFigure(q, totals[p], percentile(per_query[p], 50)) for q, p in zip(QUERIES, paths)],
                         latencies, wall, sequential_cpu, result, load_cpu, rows, nodes, db_bytes)


# --- the report ---------------------------------------------------------------------------------

def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _s(value: float) -> str:
    return f"{value:.2f} s"


def _mib(value: float) -> str:
    return f"{value:,.0f} MiB" if value >= 100 else f"{value:.1f} MiB"


def _cpu(use: CpuUse) -> list[str]:
    return [f"{use.server:.0f} %", f"{use.client:.0f} %", f"{use.other:.0f} %"]


def _verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def nginx_version() -> str:
    try:
        done = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True,
                              timeout=10)
    except OSError:
        return "nginx"
    return done.stderr.strip().replace("nginx version: ", "") or "nginx"


def report(args: argparse.Namespace, imp: ImportFigures, school: School, serve: ServeFigures,
           search: SearchFigures, memory: tuple[Memory, Memory, Memory], loadavg: str) -> tuple[str, str]:
    """The console text and the Markdown section."""
    facts = machine_facts()
    when = datetime.datetime.now(datetime.timezone.utc)
    n, d = args.connections, args.duration
    nginx = nginx_version()

    import_header = ["step", "what", "wall", "MiB/s", "peak RSS"]

    def row(step: str, what: str, timed: Timed, mib: float | None) -> list[str]:
        return [step, what, _s(timed.seconds), f"{mib / timed.seconds:,.0f}" if mib else "",
                _mib(timed.peak_rss_mib)]

    update_mib = imp.update_bytes_stored / MIB
    import_rows = [
        row("pack build", f"{imp.files} files of {FILE_MIB} MiB, signed", imp.build, imp.pack_mib),
        row("pack import", f"{imp.pack_mib:,} MiB into an empty school", imp.first, imp.pack_mib),
        row("pack import again", "same pack: a no-op", imp.again, None),
        row("pack build 1.1.0", f"{imp.changed} of {imp.files} files changed", imp.update_build, imp.pack_mib),
        row("pack import 1.1.0", f"stored {imp.update_files_stored} files, {update_mib:,.0f} MiB",
            imp.update, update_mib),
        row("pack import (library)", f"{len(SUBJECTS)} packs, {school.library_pages:,} HTML pages of "
            f"{school.library_bytes / school.library_pages / 1024:.1f} KiB: "
            f"{school.library_pages / school.library_import.seconds:,.0f} pages/s", school.library_import, None),
    ]

    serve_header = ["load", "req/s", "MB/s", "bytes/response", "p50", "p90", "p99", "max", "errors",
                    "server CPU", "server CPU per request", "wrk CPU", "other CPU"]

    def serve_row(what: str, figures: Load) -> list[str]:
        r = figures.result
        return [what, f"{r.rps:,.0f}", f"{figures.mb_per_s:,.0f}", f"{figures.bytes_per_response:,.0f}",
                _ms(r.p50_ms), _ms(r.p90_ms), _ms(r.p99_ms), _ms(r.max_ms), str(figures.errors),
                f"{figures.cpu.server:.0f} %", f"{10 * figures.cpu.server / r.rps:.2f} ms" if r.rps else "",
                f"{figures.cpu.client:.0f} %", f"{figures.cpu.other:.0f} %"]

    serve_rows = [serve_row(f"classroom-server `/content/<sha256>/sample.mp4` ({SERVER_THREADS} threads)", serve.ours),
                  serve_row(f"bare Flask `send_file` + waitress ({SERVER_THREADS} threads)", serve.bare),
                  serve_row(f"{nginx} (sendfile, {NGINX_WORKERS} workers)", serve.nginx),
                  serve_row("classroom-server, Range 128 KiB", serve.ours_range),
                  serve_row("bare Flask + waitress, Range 128 KiB", serve.bare_range),
                  serve_row("nginx, Range 128 KiB", serve.nginx_range)]
    ratio = serve.ours.result.rps / serve.nginx.result.rps
    range_ratio = serve.ours_range.result.rps / serve.nginx_range.result.rps
    bare_ratio = serve.bare.result.rps / serve.nginx.result.rps

    query_header = ["query", "filters", "hits", "p50 (one at a time)"]
    query_rows = [[f"`{q.params['q']}`", ", ".join(f"{k}={v}" for k, v in q.params.items() if k != "q") or "",
                   f"{q.total:,}", _ms(q.p50_ms)] for q in search.queries]
    s = search.load
    search_header = ["search", "requests", "req/s", "p50", "p90", "p99", "max", "non-200", "server CPU",
                     "client CPU", "other CPU"]
    search_rows = [["one at a time (requests)", f"{len(search.latencies_ms):,}", f"{search.rate:,.0f}",
                    _ms(percentile(search.latencies_ms, 50)), _ms(percentile(search.latencies_ms, 90)),
                    _ms(percentile(search.latencies_ms, 99)), _ms(max(search.latencies_ms)), "0",
                    *_cpu(search.sequential_cpu)],
                   [f"wrk -c{SEARCH_CONNECTIONS}, one session cookie", f"{s.requests:,}", f"{s.rps:,.0f}",
                    _ms(s.p50_ms), _ms(s.p90_ms), _ms(s.p99_ms), _ms(s.max_ms),
                    str(s.non_200 + sum(s.socket_errors.values())), *_cpu(search.load_cpu)]]
    seq_p99 = percentile(search.latencies_ms, 99)

    target_header = ["target", "measured", "met"]
    target_rows = [[f"2 MiB file req/s, ours / nginx >= {TARGET_RATIO}", f"{ratio:.2f}",
                    _verdict(ratio >= TARGET_RATIO)],
                   [f"search p99 < {TARGET_SEARCH_P99_MS:.0f} ms, one at a time", _ms(seq_p99),
                    _verdict(seq_p99 < TARGET_SEARCH_P99_MS)],
                   [f"search p99 < {TARGET_SEARCH_P99_MS:.0f} ms, {SEARCH_CONNECTIONS} connections", _ms(s.p99_ms),
                    _verdict(s.p99_ms < TARGET_SEARCH_P99_MS)]]
    idle, after_serving, after_search = memory
    tables = [(import_header, import_rows), (serve_header, serve_rows), (query_header, query_rows),
              (search_header, search_rows), (target_header, target_rows)]
    console = "\n\n".join(
        [f"content: pack {imp.pack_mib} MiB; wrk -t2 -c{n} -d{d}s; server threads {SERVER_THREADS}; loopback"]
        + [text_table(h, [[str(c).replace("**", "").replace("`", "") for c in r] for r in rows]) for h, rows in tables]
        + [f"ours/nginx: whole file {ratio:.2f} (bare/nginx {bare_ratio:.2f}), Range {range_ratio:.2f}; index rows {search.rows:,}, "
           f"database {search.db_bytes / MIB:.1f} MiB; server RSS {idle.rss_mib:.1f} MiB idle, "
           f"{after_serving.rss_mib:.1f} MiB after the file loads, {after_search.rss_mib:.1f} MiB after search, "
           f"peak {after_search.hwm_mib:.1f} MiB"])
    cache_note = ("The files were written just before, so the build and the import read them from the page "
                  "cache; the import writes each blob and fsyncs it before giving it its name, and hashes it.")
    markdown = "\n".join([
        "## Content: pack import, content files, search (`benchmarks/content.py`)",
        "",
        "How to run: `python benchmarks/content.py [--pack-mib 1024 --connections 50 --duration 20 "
        "--out docs/BENCHMARKS.md]` (needs `wrk` and `nginx`, and about 4 × the pack size of free disk "
        "in the temporary folder; everything it makes is removed at the end).",
        "",
        measured_on(when, facts, memory=True, cpu=True,
                    command=f"python benchmarks/content.py --pack-mib {args.pack_mib} --connections {n} --duration {d}")
        + f", {facts['wrk']}, {nginx} (load average before the run: {loadavg}), "
        "all on loopback, one load at a time.",
        "",
        "### Importing a large pack",
        "",
        (f"A signed pack of {imp.pack_mib:,} MiB: {imp.files} incompressible `.mp4` files of {FILE_MIB} MiB "
         f"(stored, not deflated, in the zip), one media node each, imported with `classroom-server pack import` "
         f"into a school with an empty library, the key trusted through `CLASSROOM_CONTENT_TRUSTED_KEYS`. "
         f"Each step is a separate process; wall time includes its start (about 0.3 s); peak RSS is that "
         f"process's `ru_maxrss`. {cache_note}")
        + (f" **{imp.scaled_note}.**" if imp.scaled_note else ""),
        "",
        markdown_table(import_header, import_rows),
        "",
        (f"The update (version 1.1.0, {imp.changed} of {imp.files} files new) stored "
         f"{imp.update_bytes_stored:,} bytes; after it the blob store holds {imp.store_bytes_after / MIB:,.0f} MiB "
         f"(the replaced files were collected)."),
        "",
        "### Content files: classroom-server next to nginx",
        "",
        (f"A 2 MiB random file at its content-addressed URL on `classroom-server serve --threads {SERVER_THREADS}` "
         f"(the demo school plus the library below), and the same blob file "
         f"(`<data>/content/blobs/ab/<sha256>`) served by {nginx} with `sendfile on`, `worker_processes "
         f"{NGINX_WORKERS}`, `access_log off`, in the same run; and, to separate waitress's own cost from "
         f"our app's, a bare Flask app that only does `send_file` of that file on waitress ({SERVER_THREADS} "
         f"threads; it is in this script). Load: `wrk -t2 -c{n} -d{d}s --latency "
         "--timeout 30s`, client and server sharing the cores, with a Lua script that has no `response()` "
         "callback (with one, wrk copies each 2 MiB body into Lua and spends more CPU than the server); "
         "before each load, one whole GET and one Range GET were checked byte for byte. Range: "
         f"`Range: bytes={RANGE_FIRST}-{RANGE_LAST}` (128 KiB from the middle), answered 206. \"errors\" are "
         "statuses outside 2xx/3xx plus socket errors; MB/s are 10^6 bytes, headers included. CPU is in "
         f"percent of one core ({os.cpu_count()} cores = {100 * (os.cpu_count() or 1)} %; "
         "server: all nginx processes together; per request: its CPU time over the requests answered; other: the rest of the machine, which other people's work "
         f"shares: each load waits up to {QUIET_WAIT_S} s for it to fall under {QUIET_CORE_PCT:.0f} % "
         "before it starts)."),
        "",
        markdown_table(serve_header, serve_rows),
        "",
        f"Ours / nginx req/s: **{ratio:.2f}** for the whole file (bare Flask + waitress / nginx: "
        f"{bare_ratio:.2f}), **{range_ratio:.2f}** for the Range request. A load during which the rest of "
        f"the machine used more than {NOISY_CORE_PCT:.0f} % of a core was measured once more and the quieter "
        "run kept.",
        "",
        "Our response headers: " + ", ".join(f"`{k}: {v}`" for k, v in serve.headers.items()
                                             if k.lower() in ("content-type", "content-length", "etag",
                                                              "cache-control", "accept-ranges")) + ".",
        "",
        "### Search",
        "",
        (f"The demo school's sample packs plus a generated library: {len(SUBJECTS)} signed packs "
         f"({', '.join(SUBJECTS)}), {school.library_pages // 2:,} lessons, each a page of about "
         f"{school.library_bytes / school.library_pages / 1024:.1f} KiB in Kazakh and one in Russian, drawn "
         "from word lists with Zipf weights (so some words are on most pages). The full-text index (SQLite "
         f"FTS5) has **{search.rows:,} rows** for {search.nodes:,} nodes; the database with its WAL is "
         f"**{search.db_bytes / MIB:.1f} MiB**. `GET /api/v1/search` as a signed-in student (PIN sign-in "
         f"over HTTP), cycling through {len(QUERIES)} queries: first {SEARCH_SEQUENTIAL} requests one at a "
         "time (client-side latency with `requests`), then `wrk -t2 "
         f"-c{SEARCH_CONNECTIONS} -d{d}s` with the same session cookie on every connection."),
        "",
        markdown_table(search_header, search_rows),
        "",
        "<details><summary>The queries, their hit counts and their latency one at a time</summary>",
        "",
        markdown_table(query_header, query_rows),
        "",
        "</details>",
        "",
        (f"Server memory (VmRSS): {idle.rss_mib:.1f} MiB idle, {after_serving.rss_mib:.1f} MiB after the "
         f"content file loads (peak so far {after_serving.hwm_mib:.1f} MiB), {after_search.rss_mib:.1f} MiB "
         f"after the search loads (peak {after_search.hwm_mib:.1f} MiB). Each of the {SERVER_THREADS} threads "
         "has its own SQLite connection with its own page cache."),
        "",
        markdown_table(target_header, target_rows),
    ])
    return console, markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack-mib", type=int, default=1024, help="size of the large pack to import, in MiB")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections for the content file")
    parser.add_argument("--duration", type=int, default=20, help="seconds of each wrk run")
    parser.add_argument("--lessons", type=int, default=2000,
                        help="generated lessons for search (each a Kazakh and a Russian page)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md",
                        help="the report whose content section is replaced")
    args = parser.parse_args(argv)
    if args.pack_mib < FILE_MIB or args.connections < 1 or args.duration < 1 or args.lessons < len(SUBJECTS):
        parser.error(f"--pack-mib must be at least {FILE_MIB}, --connections and --duration at least 1, "
                     f"--lessons at least {len(SUBJECTS)}")
    loadavg = " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    try:
        with tempfile.TemporaryDirectory(prefix="content-bench-") as folder:
            work = Path(folder)
            key, public_key = keygen(work)
            imp = measure_import(work, args.pack_mib, key, public_key)
            shutil.rmtree(work / "big-source")  # several GB not needed any more
            shutil.rmtree(work / "big-school")
            print("content: making the demo school ...", file=sys.stderr)
            school = make_school(work, key, public_key, args.lessons)
            argv_serve = [console_script("classroom-server"), "--data-dir", str(school.data_dir), "serve",
                          "--host", "127.0.0.1", "--port", "0", "--threads", str(SERVER_THREADS)]
            with start_server(argv_serve, env=clean_env()) as server:
                idle = server.memory()
                nginx_folder = work / "nginx"
                nginx_folder.mkdir()
                serve = measure_serving(server.url, server.proc.pid, school, nginx_folder, args.connections,
                                        args.duration)
                after_serving = server.memory()
                search = measure_search(server.url, server.proc.pid, school, args.duration)
                after_search = server.memory()
    except BenchmarkError as exc:
        print(f"content: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("content: interrupted; servers stopped, temporary files removed", file=sys.stderr)
        return 130
    console, markdown = report(args, imp, school, serve, search, (idle, after_serving, after_search), loadavg)
    print(console)
    replace_section(args.out, NAME, markdown)
    print(f"\nwrote the {NAME} section of {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
