"""The science sample's pictures and sounds, drawn and synthesised by code (no binaries in the repository).

Everything here is deterministic, so building the samples twice gives the same files and hashes.
"""
from __future__ import annotations

import io
import math
import wave
from pathlib import Path

RATE = 8000  # samples per second: enough for tones up to 4 kHz, and small
SVG_NS = "http://www.w3.org/2000/svg"  # the SVG namespace name (an identifier, nothing is fetched)
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Noto Sans, Arial, sans-serif"'


# --- sound -------------------------------------------------------------------------------------

def _tone(frequency: float, seconds: float, volume: float) -> bytes:
    """A sine tone as 8-bit unsigned samples, faded in and out over 20 ms so it does not click."""
    count = int(seconds * RATE)
    fade = int(0.02 * RATE)
    samples = bytearray(count)
    for i in range(count):
        envelope = min(1.0, i / fade, (count - 1 - i) / fade)
        value = volume * envelope * math.sin(2 * math.pi * frequency * i / RATE)
        samples[i] = 128 + round(127 * value)
    return bytes(samples)


def _silence(seconds: float) -> bytes:
    return bytes([128]) * int(seconds * RATE)


def _wav(parts: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(RATE)
        out.writeframes(b"".join(parts))
    return buffer.getvalue()


def pitch_wav() -> bytes:
    """220 Hz, 440 Hz and 880 Hz, one second each, equally loud, with short pauses (4.1 s)."""
    parts = [_silence(0.2)]
    for frequency in (220, 440, 880):
        parts += [_tone(frequency, 1.0, 0.7), _silence(0.3)]
    return _wav(parts)


def loudness_wav() -> bytes:
    """The same 440 Hz tone, first quiet, then loud (2.8 s)."""
    return _wav([_silence(0.2), _tone(440, 1.0, 0.2), _silence(0.4), _tone(440, 1.0, 0.9), _silence(0.2)])


# --- pictures ----------------------------------------------------------------------------------

LABELS = {
    "kk": {
        "pitch.title": "Дыбыс биіктігі және жиілік",
        "pitch.rows": ("220 Гц — төмен дыбыс", "440 Гц — орташа дыбыс", "880 Гц — жоғары дыбыс"),
        "pitch.note": "Әр жолда бірдей уақыт көрсетілген: 0,01 секунд",
        "time": "уақыт",
        "loud.title": "Дыбыстың қаттылығы және амплитуда",
        "loud.rows": ("Ақырын дыбыс: амплитудасы кіші", "Қатты дыбыс: амплитудасы үлкен"),
        "loud.note": "Екі дыбыстың да жиілігі бірдей: 440 Гц",
        "amplitude": "амплитуда",
        "shadow.source": "Жарық көзі",
        "shadow.body": "Мөлдір емес дене",
        "shadow.screen": "Экран",
        "shadow.shadow": "Көлеңке",
        "shadow.note": "Жарық түзу сызықпен таралады",
        "refl.incident": "Түскен сәуле",
        "refl.reflected": "Шағылған сәуле",
        "refl.normal": "Перпендикуляр",
        "refl.mirror": "Айна",
        "refl.note": "Түсу бұрышы шағылу бұрышына тең: α = β",
    },
    "ru": {
        "pitch.title": "Высота звука и частота",
        "pitch.rows": ("220 Гц — низкий звук", "440 Гц — средний звук", "880 Гц — высокий звук"),
        "pitch.note": "В каждой строке показано одно и то же время: 0,01 секунды",
        "time": "время",
        "loud.title": "Громкость звука и амплитуда",
        "loud.rows": ("Тихий звук: амплитуда маленькая", "Громкий звук: амплитуда большая"),
        "loud.note": "У обоих звуков одинаковая частота: 440 Гц",
        "amplitude": "амплитуда",
        "shadow.source": "Источник света",
        "shadow.body": "Непрозрачное тело",
        "shadow.screen": "Экран",
        "shadow.shadow": "Тень",
        "shadow.note": "Свет распространяется прямолинейно",
        "refl.incident": "Падающий луч",
        "refl.reflected": "Отражённый луч",
        "refl.normal": "Перпендикуляр",
        "refl.mirror": "Зеркало",
        "refl.note": "Угол падения равен углу отражения: α = β",
    },
}


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="{SVG_NS}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" {FONT}>\n<title>{title}</title>\n'
            f'<rect width="{width}" height="{height}" fill="#fff"/>\n' + "\n".join(body) + "\n</svg>\n")


def _wave_path(x0: float, y0: float, width: float, frequency: float, amplitude: float,
               window: float = 0.01) -> str:
    """A sine curve over `window` seconds drawn `width` pixels wide, as an SVG path."""
    points = []
    steps = 240
    for i in range(steps + 1):
        t = window * i / steps
        points.append(f"{x0 + width * i / steps:.1f},{y0 - amplitude * math.sin(2 * math.pi * frequency * t):.1f}")
    return f'<path d="M{" L".join(points)}" fill="none" stroke="#2b6cb0" stroke-width="2.5"/>'


def _axis(x0: float, y0: float, width: float, label: str) -> list[str]:
    return [f'<line x1="{x0}" y1="{y0}" x2="{x0 + width + 12}" y2="{y0}" stroke="#888" stroke-width="1"/>',
            f'<path d="M{x0 + width + 12},{y0} l-8,-4 v8 z" fill="#888"/>',
            f'<text x="{x0 + width + 16}" y="{y0 + 4}" font-size="12" fill="#555">{label}</text>']


def pitch_svg(language: str) -> str:
    text = LABELS[language]
    body = [f'<text x="20" y="28" font-size="18" font-weight="bold" fill="#12355b">{text["pitch.title"]}</text>']
    for row, (frequency, label) in enumerate(zip((220, 440, 880), text["pitch.rows"])):
        y = 100 + row * 95
        body.append(f'<text x="20" y="{y - 42}" font-size="15" fill="#1b1b1b">{label}</text>')
        body += _axis(20, y, 400, text["time"])
        body.append(_wave_path(20, y, 400, frequency, 30))
    body.append(f'<text x="20" y="372" font-size="13" fill="#555">{text["pitch.note"]}</text>')
    return _svg(500, 385, text["pitch.title"], body)


def loudness_svg(language: str) -> str:
    text = LABELS[language]
    body = [f'<text x="20" y="28" font-size="18" font-weight="bold" fill="#12355b">{text["loud.title"]}</text>']
    for row, (amplitude, label) in enumerate(zip((12, 45), text["loud.rows"])):
        y = 110 + row * 120
        body.append(f'<text x="20" y="{y - 55}" font-size="15" fill="#1b1b1b">{label}</text>')
        body += _axis(20, y, 400, text["time"])
        body.append(_wave_path(20, y, 400, 440, amplitude))
        # an arrow from the axis to the third crest shows the amplitude
        x = 20 + 400 * (2.25 / 440) / 0.01
        body.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y - amplitude}" stroke="#c53030" '
                    f'stroke-width="2"/>')
        body.append(f'<path d="M{x:.1f},{y - amplitude} l-4,7 h8 z" fill="#c53030"/>')
        body.append(f'<text x="{x + 8:.1f}" y="{y - amplitude / 2 + 4:.1f}" font-size="13" fill="#c53030" '
                    f'stroke="#fff" stroke-width="4" paint-order="stroke">{text["amplitude"]}</text>')
    body.append(f'<text x="20" y="292" font-size="13" fill="#555">{text["loud.note"]}</text>')
    return _svg(500, 305, text["loud.title"], body)


def shadow_svg(language: str) -> str:
    """A point source, a ball and a screen: the rays that graze the ball bound the shadow."""
    text = LABELS[language]
    lx, ly, cx, cy, r, sx = 60.0, 160.0, 220.0, 160.0, 40.0, 420.0
    theta = math.asin(r / (cx - lx))
    reach = math.sqrt((cx - lx) ** 2 - r ** 2)
    tx = lx + reach * math.cos(theta)
    ty_top, ty_bottom = ly - reach * math.sin(theta), ly + reach * math.sin(theta)
    spread = (sx - lx) * math.tan(theta)
    top, bottom = ly - spread, ly + spread
    body = [f'<text x="20" y="28" font-size="16" font-weight="bold" fill="#12355b">{text["shadow.note"]}</text>',
            f'<polygon points="{tx:.1f},{ty_top:.1f} {sx},{top:.1f} {sx},{bottom:.1f} {tx:.1f},{ty_bottom:.1f}" '
            f'fill="#d9d9d9"/>',
            f'<rect x="{sx}" y="50" width="14" height="220" fill="#fff6cc" stroke="#1b1b1b" stroke-width="1.5"/>',
            f'<rect x="{sx}" y="{top:.1f}" width="14" height="{bottom - top:.1f}" fill="#444"/>']
    for angle in (-theta, theta, -math.radians(16), math.radians(16), -math.radians(5), math.radians(5)):
        end_y = ly + (sx - lx) * math.tan(angle)
        grazes = abs(abs(angle) - theta) < 1e-9
        if abs(angle) < theta and not grazes:  # stopped by the ball
            end_x = cx - math.sqrt(max(r ** 2 - ((cx - lx) * math.tan(angle)) ** 2, 0.0))
            end_y = ly + (end_x - lx) * math.tan(angle)
        else:
            end_x = sx
        dashes = "" if grazes else ' stroke-dasharray="6 4"'
        body.append(f'<line x1="{lx}" y1="{ly}" x2="{end_x:.1f}" y2="{end_y:.1f}" stroke="#e0a100" '
                    f'stroke-width="{2 if grazes else 1.5}"{dashes}/>')
    body += [f'<circle cx="{lx}" cy="{ly}" r="14" fill="#ffd43b" stroke="#b7791f" stroke-width="2"/>',
             f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="#7a8ea8" stroke="#1b1b1b" stroke-width="1.5"/>',
             f'<text x="20" y="{ly + 40}" font-size="14">{text["shadow.source"]}</text>',
             f'<text x="{cx - 60}" y="{cy + r + 58}" font-size="14">{text["shadow.body"]}</text>',
             f'<text x="{sx - 20}" y="292" font-size="14">{text["shadow.screen"]}</text>',
             f'<text x="{sx + 20}" y="{ly + 5}" font-size="14" font-weight="bold">{text["shadow.shadow"]}</text>']
    return _svg(530, 305, text["shadow.note"], body)


def reflection_svg(language: str) -> str:
    """A plane mirror, the normal, and equal angles of incidence and reflection (40 degrees)."""
    text = LABELS[language]
    ox, oy, length, angle = 240.0, 250.0, 190.0, math.radians(40)
    ax, ay = ox - length * math.sin(angle), oy - length * math.cos(angle)
    bx, by = ox + length * math.sin(angle), oy - length * math.cos(angle)
    arc = 55.0
    left = (ox - arc * math.sin(angle), oy - arc * math.cos(angle))
    right = (ox + arc * math.sin(angle), oy - arc * math.cos(angle))
    hatching = "".join(f"M{x},{oy + 2} l-12,14 " for x in range(70, 431, 20))
    body = [
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#d97706"/></marker></defs>',
        f'<line x1="60" y1="{oy}" x2="430" y2="{oy}" stroke="#1b1b1b" stroke-width="3"/>',
        f'<path d="{hatching}" stroke="#888" stroke-width="1.5"/>',
        f'<line x1="{ox}" y1="{oy}" x2="{ox}" y2="50" stroke="#555" stroke-width="1.5" stroke-dasharray="6 5"/>',
        f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{ox}" y2="{oy}" stroke="#d97706" stroke-width="3" '
        f'marker-end="url(#arrow)"/>',
        f'<line x1="{ox}" y1="{oy}" x2="{bx:.1f}" y2="{by:.1f}" stroke="#d97706" stroke-width="3" '
        f'marker-end="url(#arrow)"/>',
        f'<path d="M{ox},{oy - arc} A{arc},{arc} 0 0 0 {left[0]:.1f},{left[1]:.1f}" fill="none" stroke="#2b6cb0" '
        f'stroke-width="2"/>',
        f'<path d="M{ox},{oy - arc} A{arc},{arc} 0 0 1 {right[0]:.1f},{right[1]:.1f}" fill="none" stroke="#2b6cb0" '
        f'stroke-width="2"/>',
        f'<text x="{ox - 42}" y="{oy - 62}" font-size="15" fill="#2b6cb0">α</text>',
        f'<text x="{ox + 32}" y="{oy - 62}" font-size="15" fill="#2b6cb0">β</text>',
        f'<text x="{ax - 40:.1f}" y="{ay - 10:.1f}" font-size="14">{text["refl.incident"]}</text>',
        f'<text x="{bx - 60:.1f}" y="{by - 10:.1f}" font-size="14">{text["refl.reflected"]}</text>',
        f'<text x="{ox + 6}" y="62" font-size="13" fill="#555">{text["refl.normal"]}</text>',
        f'<text x="60" y="{oy + 36}" font-size="14">{text["refl.mirror"]}</text>',
        f'<text x="20" y="26" font-size="16" font-weight="bold" fill="#12355b">{text["refl.note"]}</text>',
    ]
    return _svg(480, 300, text["refl.note"], body)


def write_science_media(folder: Path) -> list[Path]:
    """Write the science pack's media into `folder` (the pack's media/ folder); return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {"pitch.wav": pitch_wav(), "loudness.wav": loudness_wav()}
    for language in LABELS:
        files[f"pitch.{language}.svg"] = pitch_svg(language).encode("utf-8")
        files[f"loudness.{language}.svg"] = loudness_svg(language).encode("utf-8")
        files[f"shadow.{language}.svg"] = shadow_svg(language).encode("utf-8")
        files[f"reflection.{language}.svg"] = reflection_svg(language).encode("utf-8")
    written = []
    for name, body in sorted(files.items()):
        path = folder / name
        path.write_bytes(body)
        written.append(path)
    return written
