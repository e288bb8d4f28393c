#!/usr/bin/env python3
"""Where one `lethe run` spends its time, from the server log of a database whose every
statement is logged (log_min_duration_statement = 0, log_line_prefix '%m [%p] %d ').

Server time is summed per phase from the statements' durations; the gaps between one statement's
end and the next one's start are the client's time (manifest files, the executor, round trips).
Reads only the log it is given; used by bench.sh."""
import re
import sys
from datetime import datetime

ENTRY = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \w+ \[(\d+)\] (\S*) LOG:  duration: ([\d.]+) ms  '
                   r'(?:statement|parse|bind|execute)[^:]*: ?(.*)$')

PHASES = [
    ('derive_consume', 'derive: consume the inbox, new obligations'),
    ('subject_hmac', 'derive: subject HMACs'),
    ('derive_apply', 'derive: withdrawals, expansion, lineage'),
    ('emit_batches', 'emit: select due items, write batches'),
    ('manifest_lines', 'manifests: query (streamed)'),
    ('manifest_rows', 'manifests: query (streamed)'),
    ('batch_locators', 'manifests: locator HMACs (query, record)'),
    ('record_locator_hmacs', 'manifests: locator HMACs (query, record)'),
    ('ack_batch', 'ack: tombstones, batch items, audit rows'),
    ('audit_flush', 'audit: hash chain append'),
    ('audit_checkpoint', 'audit: hash chain append'),
    ('status_memory_refresh', "status's memory, taken again as the run ends"),
    ('COMMIT', 'commits (WAL flush; fsync on)'),
]
ORDER = list(dict.fromkeys(p for _, p in PHASES)) + ['other statements (lock, run record, rules)',
                                  'client: manifest write, fsync, rename',
                                  'client: locator HMACs',
                                  'client: executor process',
                                  'client: other (round trips, bookkeeping)',
                                  'process start, connect, exit']


def phase_of(text):
    for needle, phase in PHASES:
        if needle in text:
            return phase
    return 'other statements (lock, run record, rules)'


def main():
    log, wall_ms = sys.argv[1], float(sys.argv[2])
    entries = []
    with open(log, encoding='utf-8', errors='replace') as f:
        for line in f:
            m = ENTRY.match(line)
            if not m or m.group(4) is None:
                continue
            end = datetime.strptime(m.group(1), '%Y-%m-%d %H:%M:%S.%f').timestamp() * 1000
            dur = float(m.group(4))
            entries.append((end - dur, end, dur, m.group(5)))
    if not entries:
        print('  (no statements logged)')
        return
    entries.sort(key=lambda e: e[1])
    total = {p: 0.0 for p in ORDER}
    prev_text = ''
    prev_end = None
    for start, end, dur, text in entries:
        total[phase_of(text)] += dur
        if prev_end is not None and start > prev_end:
            gap = start - prev_end
            # after a manifest's query: the file is written, then its locators are read back
            # and their HMACs computed, then recorded, then the executor starts; since
            # manifest_rows, the HMACs are computed while the file is written, and recorded
            # once it is fsynced, before its rename
            if ('batch_locators' in text or text.startswith('UPDATE lethe.batches SET attempts')
                    or ('record_locator_hmacs' in text and 'manifest_rows' in prev_text)):
                total['client: manifest write, fsync, rename'] += gap
            elif 'record_locator_hmacs' in text:
                total['client: locator HMACs'] += gap
            elif prev_text.startswith('UPDATE lethe.batches SET attempts'):
                total['client: executor process'] += gap
            else:
                total['client: other (round trips, bookkeeping)'] += gap
        prev_end = max(prev_end or end, end)
        prev_text = text
    span = entries[-1][1] - entries[0][0]
    total['process start, connect, exit'] = max(0.0, wall_ms - span)
    for p in ORDER:
        if total[p] >= 0.5:
            print(f'  {p:<44} {total[p]:9.0f} ms  {100 * total[p] / wall_ms:5.1f}%')


if __name__ == '__main__':
    main()
