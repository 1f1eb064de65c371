#!/usr/bin/env python3
"""Copies a subset of Sisimai's set-of-emails and Sisimai's published
expected results into this folder (see README.md). Run from the folder with
the two repositories' checkouts as arguments:

    python3 import.py SET_OF_EMAILS_DIR P5_SISIMAI_DIR
"""
import os, re, shutil, sys

SETS = {  # p5-sisimai test file -> file name prefix in maildir/bsd
    '890-rfc3464.t': 'rfc3464', '899-arf.t': 'arf', '891-rfc3834.t': 'rfc3834',
    '760-lhost-postfix.t': 'lhost-postfix', '791-lhost-sendmail.t': 'lhost-sendmail',
    '653-lhost-exim.t': 'lhost-exim', '770-lhost-qmail.t': 'lhost-qmail',
    '670-lhost-gmail.t': 'lhost-gmail', '612-lhost-amazonses.t': 'lhost-amazonses',
    '850-lhost-yahoo.t': 'lhost-yahoo', '751-lhost-opensmtpd.t': 'lhost-opensmtpd',
    '752-lhost-outlook.t': 'lhost-outlook', '630-lhost-courier.t': 'lhost-courier',
    '651-lhost-exchange2003.t': 'lhost-exchange2003', '301-rhost-google.t': 'rhost-google',
    '302-rhost-microsoft.t': 'rhost-microsoft',
}

def main(emails, p5):
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(os.path.join(here, 'mail'), exist_ok=True)
    rows = []
    for test, prefix in SETS.items():
        src = open(os.path.join(p5, 't', test)).read()
        body = src[src.index('$isexpected'):]
        for m in re.finditer(r"'(\d+)'\s*=>\s*\[(.*?)\]\s*\]\s*,", body, re.S):
            idx, entries = m.group(1), m.group(2) + ']'
            recs = re.findall(r"\[\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*(\d)(?:\s*,\s*'([^']*)')?\s*\]", entries)
            name = '%s-%02d.eml' % (prefix, int(idx))
            path = os.path.join(emails, 'maildir', 'bsd', name)
            if not os.path.exists(path) or not recs:
                continue
            shutil.copy(path, os.path.join(here, 'mail', name))
            for status, code, reason, hard, fbtype in recs:
                rows.append('\t'.join([name, status, code, reason, hard, fbtype]))
    for name in sorted(os.listdir(os.path.join(emails, 'maildir', 'not'))):
        shutil.copy(os.path.join(emails, 'maildir', 'not', name), os.path.join(here, 'mail', 'not-' + name))
        rows.append('\t'.join(['not-' + name, '', '', 'notbounce', '0', '']))
    with open(os.path.join(here, 'expected.tsv'), 'w') as f:
        f.write('# file\tstatus\treplycode\treason\thardbounce\tfeedback-type (one row per recipient, from p5-sisimai t/*.t)\n')
        f.write('\n'.join(rows) + '\n')

if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
