#!/usr/bin/env python3
"""Builds the demo's English -> German translation pairs cli/demo/pairs_en_de.jsonl (committed;
not run in CI), the sequence-to-sequence data of the T5 part of the demo. Documented, with the
counts of the committed run, in cli/demo/pairs_en_de.README.

pairs_en_de.jsonl  one JSON object a line, {"en": ..., "de": ...} (UTF-8, not ASCII-escaped):
                   an English message of a program and its German translation, from the
                   gettext message catalogues /usr/share/locale/de/LC_MESSAGES/*.mo that the
                   installed Debian packages ship.

Catalogues are read with gettext's own tools: `msgunfmt` turns a .mo back into a .po, and
`msgconv -t UTF-8` recodes the few that are not UTF-8; the .po text is then parsed here
(msgctxt/msgid/msgid_plural/msgstr, continuation lines, C escapes). Only catalogues listed in
CATALOGUES are read: each names the Debian package that ships it (checked with `dpkg -S`) and the
licence that package's /usr/share/doc/<pkg>/copyright gives for its translations (the "Files: *"
stanza, or a stanza naming po/ files where there is one; for copyright files not in the
machine-readable format, the licence text it quotes); the third field, a phrase of that file,
is checked to be there, so a catalogue whose licence changed is refused rather than mislabeled.
Catalogues of the language's directory not listed are skipped, and printed.

Rules, applied in this order to every message (the script prints what each step drops):
  plural       a plural message (msgid_plural) gives msgid -> msgstr[0] (German splits singular
               and plural as English does, so msgstr[0] is the singular); one without msgstr[1]
               is dropped (software-properties has one, with both German forms run together in
               msgstr[0])
  untranslated an empty msgstr: dropped
  strip        leading and trailing whitespace removed from both sides
  control      a newline, tab or other control character left inside either side: dropped; runs
               of spaces (help-text columns) are then collapsed to one
  context      gnupg's "|context|" message prefixes (a "|" in the English): dropped
  format       printf/format placeholders on either side: any "%", "{" or "}", or "$" before a
               letter, "_", "{" or "(" ($VAR, ${VAR}, $(cmd)): dropped
  markup       "<...>" or an entity ("&name;", "&#123;") on either side: dropped
  mnemonic     "_" or "&" directly before a letter is removed from both sides when it is clearly a
               keyboard mnemonic: one such marker on each side, the same character, the English
               starting with a capital, both marked words plain words once the marker is gone (a
               letter, then no capitals: "_Add", "au_swählen"; not "SO_BROADCAST"), and neither
               marked word also in the other language nor both starting alike up to two letters
               past the marker (identifiers such as size_t, ai_socktype are kept, or nearly, by
               translators; mnemonic words are translated). Every other message with "_" on a
               side, or "&" before a letter (AT&T), is dropped. "&" before a space
               ("Audio & Video") is text and stays
  letters      a side without a letter (e.g. a German side that is only a number): dropped
  words        English 2..12 words, German 1..16 words (whitespace-separated): others dropped
  identical    English equal to German: dropped
  dedup        one pair per English text: the first kept, in the order of the sorted catalogue
               file names and then the catalogue's own (msgid) order
Then the pairs are ordered by the SHA-256 of their English text (a deterministic shuffle that
mixes the catalogues and does not depend on Python's random module) and the first MAX_PAIRS are
written. Rerunning on the same packages gives a byte-identical file.

Run once:  python3 tests/gen_demo_pairs.py
"""
import ast, collections, glob, hashlib, json, os, re, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(os.path.dirname(here), "cli", "demo", "pairs_en_de.jsonl")
LOCALE = "/usr/share/locale/de/LC_MESSAGES"
MAX_PAIRS = 6000

GETTEXT_GPL3 = ("General Public License as published by the Free Software Foundation; either "
                "version 3 of the License, or (at your option) any later version")
# catalogue -> (Debian package, licence of its translations, phrase of the copyright file)
CATALOGUES = {
    "Linux-PAM.mo": ("libpam-runtime", "BSD-3-clause or GPL", "License: BSD-3-clause or GPL"),
    "PackageKit.mo": ("packagekit", "GPL-2+ and LGPL-2.1+", "License: GPL-2+ and LGPL-2.1+"),
    "adduser.mo": ("adduser", "GPL-2+", "License: GPL-2+"),
    "appstream.mo": ("appstream", "GPL-2+ and LGPL-2.1+", "License: GPL-2+ and LGPL-2.1+"),
    "apt.mo": ("apt", "GPL-2+", "License: GPL-2+"),
    "at-spi2-core.mo": ("at-spi2-common", "LGPL-2+", "License: LGPL-2+"),
    "avahi.mo": ("libavahi-common-data", "LGPL-2+",
                 "Lesser General Public License as published by the Free Software Foundation; "
                 "either version 2 of the License, or (at your option) any later version"),
    "bash.mo": ("bash", "GPL-3+", "License: GPL-3+"),
    "coreutils.mo": ("coreutils", "GPL-3+", "License: GPL-3+"),
    "dglobals-3.2.2.mo": ("fp-utils-3.2.2", "GPL-2+", "License: GPL-2+"),
    "diffutils.mo": ("diffutils", "GPL-3+", "License: GPL-3+"),
    "dpkg-dev.mo": ("libdpkg-perl", "GPL-2+", "License: GPL-2+"),
    "dpkg.mo": ("dpkg", "GPL-2+", "License: GPL-2+"),
    "elfutils.mo": ("libelf1", "GPL-3+", "License: GPL-3+"),
    "fpdoc-3.2.2.mo": ("fp-utils-3.2.2", "GPL-2+", "License: GPL-2+"),
    "fpdocmk-3.2.2.mo": ("fp-utils-3.2.2", "GPL-2+", "License: GPL-2+"),
    "gdk-pixbuf.mo": ("libgdk-pixbuf2.0-common", "LGPL-2+ and LGPL-2.1+ and CC0-1.0",
                      "License: LGPL-2+ and LGPL-2.1+ and CC0-1.0"),
    "gettext-runtime.mo": ("gettext-base", "GPL-3+", GETTEXT_GPL3),
    "gettext-tools.mo": ("gettext", "GPL-3+", GETTEXT_GPL3),
    "git.mo": ("git", "GPL-2", "License: GPL-2"),
    "gnucobol.mo": ("gnucobol3", "GPL-3+", "License: GPL-3+"),
    "gnupg2.mo": ("gnupg-l10n", "GPL-3+", "License: GPL-3+"),
    "gprof.mo": ("binutils-common", "GPL-3+", "either version 3 of the License"),
    "grep.mo": ("grep", "GPL-3+", "License: GPL-3+"),
    "gsettings-desktop-schemas.mo": ("gsettings-desktop-schemas", "LGPL-2.1+",
                                     "License: LGPL-2.1+"),
    "initdb-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "iso_15924.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_3166-1.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_3166-2.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_3166-3.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_3166.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_3166_2.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_4217.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_639-2.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_639-3.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_639-5.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_639.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_639_3.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "iso_639_5.mo": ("iso-codes", "LGPL-2.1+", "License: LGPL-2.1+"),
    "ld.mo": ("binutils-common", "GPL-3+", "either version 3 of the License"),
    "libapt-pkg6.0.mo": ("libapt-pkg6.0", "GPL-2+", "License: GPL-2+"),
    "libc.mo": ("libc-l10n", "LGPL-2.1+", "version 2.1 of the License, or (at your option)"),
    "libidn2.mo": ("libidn2-0", "GPL-3+", "License: GPL-3+"),
    "libpq5-15.mo": ("libpq5", "PostgreSQL", "License: PostgreSQL"),
    "m4.mo": ("m4", "GPL-3+", "either version 3, or (at your option) any later version"),
    "make.mo": ("make", "GPL-3+", "License: GPL-3+"),
    "makeskel-3.2.2.mo": ("fp-utils-3.2.2", "GPL-2+", "License: GPL-2+"),
    "man-db-gnulib.mo": ("man-db", "GPL-3+", "License: GPL-3+"),  # Files: gl/* (gnulib)
    "man-db.mo": ("man-db", "GPL-2+", "License: GPL-2+"),
    "net-tools.mo": ("net-tools", "GPL-2+", "License: GPL-2+"),
    "opcodes.mo": ("binutils-common", "GPL-3+", "either version 3 of the License"),
    "pg_amcheck-15.mo": ("postgresql-client-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_archivecleanup-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_basebackup-15.mo": ("postgresql-client-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_checksums-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_config-15.mo": ("postgresql-client-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_controldata-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_ctl-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_dump-15.mo": ("postgresql-client-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_resetwal-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_rewind-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_test_fsync-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_test_timing-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_upgrade-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_verifybackup-15.mo": ("postgresql-client-15", "PostgreSQL", "License: PostgreSQL"),
    "pg_waldump-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "pgscripts-15.mo": ("postgresql-client-15", "PostgreSQL", "License: PostgreSQL"),
    "plpgsql-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "polkit-1.mo": ("polkitd", "LGPL-2.0+ and Expat", "License: LGPL-2.0+ and Expat"),
    "postgres-15.mo": ("postgresql-15", "PostgreSQL", "License: PostgreSQL"),
    "procps-ng.mo": ("procps", "LGPL-2.1+", "License: LGPL-2.1+"),
    "psmisc.mo": ("psmisc", "GPL-2+", "License: GPL-2+"),
    "psql-15.mo": ("postgresql-client-15", "PostgreSQL", "License: PostgreSQL"),
    "python-apt.mo": ("python-apt-common", "GPL-2+", "Files: po/*"),
    "sed.mo": ("sed", "GPL-3+", "License: GPL-3+"),
    "shadow.mo": ("login", "BSD-3-clause", "License: BSD-3-clause"),
    "shared-mime-info.mo": ("shared-mime-info", "GPL-2+", "either version 2 of the License"),
    "software-properties.mo": ("software-properties-common", "GPL-2+", "Files: po/*"),
    "systemd.mo": ("systemd", "LGPL-2.1+", "License: LGPL-2.1+"),
    "tar.mo": ("tar", "GPL-3+", "License: GPL-3+"),
    "wget-gnulib.mo": ("wget", "GPL-3+", "see /usr/share/common-licenses/GPL-3"),
    "wget.mo": ("wget", "GPL-3+", "see /usr/share/common-licenses/GPL-3"),
    "xdg-user-dirs.mo": ("xdg-user-dirs", "GPL-2+", "either version 2 of the License"),
    "xz.mo": ("xz-utils", "public domain", "Files: po/cs.po po/de.po po/fr.po"),
}
# Not read: glib20, gtk20, gtk20-properties (libglib2.0-data, libgtk2.0-common: per-file licences
# with no stanza covering the translations), gnutls30 (a prose summary of several licences),
# gstreamer-1.0 (no "Files: *" stanza), mit-krb5 and xkeyboard-config (several licences, none
# named for the catalogues), findutils (its "Files: *" stanza says GFDL, not the program's GPL).

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
FORMAT = re.compile(r"[%{}]|\$[A-Za-z_{(]")
MARKUP = re.compile(r"<[^<>]*>|&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]\w*);")
MNEMONIC = re.compile(r"[_&](?=[^\W\d_])")
LETTER = re.compile(r"[^\W\d_]")
CORE = re.compile(r"^[^\w&]+|[^\w&]+$")  # punctuation around a word
LABEL = re.compile(r"[^\W\d_][^\W\d_A-Z]*$")  # "Connect", "hinzufügen"; not "SOBROADCAST"


def run(cmd, data=None):
    return subprocess.run(cmd, input=data, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, env=dict(os.environ, LC_ALL="C.UTF-8")).stdout


def read_po(path):
    """The messages of a .mo, decoded by msgunfmt and recoded to UTF-8 by msgconv."""
    po = run(["msgconv", "--no-wrap", "-t", "UTF-8"], run(["msgunfmt", "--no-wrap", path]))
    return parse_po(po.decode("utf-8"))


def parse_po(text):
    """[{keyword: string}] of a .po: msgctxt, msgid, msgid_plural, msgstr or msgstr[N]."""
    entries, cur, key = [], {}, None
    for line in text.split("\n") + [""]:
        if not line.strip():
            if cur:
                entries.append(cur)
            cur, key = {}, None
        elif line.startswith("#"):
            continue
        else:
            m = re.match(r'(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")$', line)
            if m:
                key = m.group(1)
                cur[key] = unquote(m.group(2))
            elif line.startswith('"') and key:
                cur[key] += unquote(line)
            else:
                sys.exit("gen_demo_pairs: cannot parse .po line %r" % line)
    return entries


def unquote(s):
    """A .po string literal (C escapes; the text is UTF-8, so only ASCII escapes matter)."""
    return ast.literal_eval(s)


def package_of(path):
    return run(["dpkg-query", "-S", path]).decode().split(":")[0]


def version_of(pkg):
    return run(["dpkg-query", "-W", "-f=${Version}", pkg]).decode()


def check_licence(name, pkg, evidence):
    cp = "/usr/share/doc/%s/copyright" % pkg
    text = " ".join(open(cp, encoding="utf-8", errors="replace").read().split())
    if " ".join(evidence.split()) not in text:
        sys.exit("gen_demo_pairs: %s: %r not found in %s: check its licence" % (name, evidence, cp))


def mnemonic(en, de):
    """(en, de) with a keyboard mnemonic marker removed from both, or None (no clear mnemonic)."""
    me, md = MNEMONIC.findall(en), MNEMONIC.findall(de)
    if len(me) != 1 or md != me or not re.match(r"[_&]?[A-Z]", en):
        return None
    words = [next(CORE.sub("", w) for w in t.split() if MNEMONIC.search(w)) for t in (en, de)]
    ew, dw = ({CORE.sub("", w) for w in t.split()} for t in (en, de))
    i = MNEMONIC.search(words[0]).start()
    if words[0] in dw or words[1] in ew or words[0][:i + 3] == words[1][:i + 3]:
        return None  # an identifier, kept (or nearly) by the translator
    if not all(LABEL.match(MNEMONIC.sub("", w)) for w in words):
        return None
    return MNEMONIC.sub("", en), MNEMONIC.sub("", de)


STEPS = ["plural", "untranslated", "control", "context", "format", "markup", "mnemonic", "letters",
         "words", "identical", "dedup"]


def clean(en, de):
    """(en, de, None) for a pair the rules keep, or (None, None, step) for the rule dropping it."""
    en, de = en.strip(), de.strip()
    if not de:
        return None, None, "untranslated"
    if CONTROL.search(en) or CONTROL.search(de):
        return None, None, "control"
    en, de = re.sub(" +", " ", en), re.sub(" +", " ", de)
    if "|" in en:
        return None, None, "context"
    if FORMAT.search(en) or FORMAT.search(de):
        return None, None, "format"
    if MARKUP.search(en) or MARKUP.search(de):
        return None, None, "markup"
    if MNEMONIC.search(en) or MNEMONIC.search(de):
        m = mnemonic(en, de)
        if m is None:
            return None, None, "mnemonic"
        en, de = m
    if "_" in en or "_" in de:
        return None, None, "mnemonic"
    if not LETTER.search(en) or not LETTER.search(de):
        return None, None, "letters"
    if not (2 <= len(en.split()) <= 12 and 1 <= len(de.split()) <= 16):
        return None, None, "words"
    if en == de:
        return None, None, "identical"
    return en, de, None


def build():
    dropped = collections.Counter()
    plural = mnemonics = messages = 0
    pairs, seen, used = [], set(), collections.OrderedDict()
    for path in sorted(glob.glob(os.path.join(LOCALE, "*.mo"))):
        name = os.path.basename(path)
        if name not in CATALOGUES:
            print("skipped (licence not named here): %s (%s)" % (name, package_of(path)))
            continue
        pkg, licence, evidence = CATALOGUES[name]
        if package_of(path) != pkg:
            sys.exit("gen_demo_pairs: %s belongs to %s, not %s" % (name, package_of(path), pkg))
        check_licence(name, pkg, evidence)
        kept = 0
        for e in read_po(path):
            if not e.get("msgid"):  # the header
                continue
            messages += 1
            plural += "msgid_plural" in e
            de = e.get("msgstr", e.get("msgstr[0]", ""))
            if "msgid_plural" in e and "msgstr[1]" not in e:
                en, de, step = None, None, "plural"  # a broken catalogue (see the docstring)
            else:
                en, de, step = clean(e["msgid"], de)
            if step is None and en in seen:
                step = "dedup"
            if step:
                dropped[step] += 1
                continue
            mnemonics += en != re.sub(" +", " ", e["msgid"].strip())
            seen.add(en)
            pairs.append((en, de, name))
            kept += 1
        used[name] = (pkg, version_of(pkg), licence, kept)
    pairs.sort(key=lambda p: hashlib.sha256(p[0].encode("utf-8")).hexdigest())
    candidates, pairs = len(pairs), pairs[:MAX_PAIRS]
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for en, de, _ in pairs:
            f.write(json.dumps({"en": en, "de": de}, ensure_ascii=False) + "\n")

    written = collections.Counter(name for _, _, name in pairs)
    print("%-28s %-26s %-22s %-34s %5s %5s" % ("catalogue", "package", "version", "licence",
                                                "kept", "taken"))
    for name, (pkg, ver, licence, kept) in used.items():
        print("%-28s %-26s %-22s %-34s %5d %5d" % (name, pkg, ver, licence, kept, written[name]))
    left = messages
    print("messages read: %d (%d plural, msgstr[0] taken)" % (messages, plural))
    for step in STEPS:
        left -= dropped[step]
        print("  %-12s drops %6d, leaves %6d" % (step, dropped[step], left))
    assert left == candidates
    print("mnemonic markers removed in %d kept pairs" % mnemonics)
    print("written: %d of %d pairs, %d bytes, sha256 %s" % (
        len(pairs), candidates, os.path.getsize(out),
        hashlib.sha256(open(out, "rb").read()).hexdigest()))


if __name__ == "__main__":
    build()
