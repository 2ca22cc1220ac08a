#!/usr/bin/env python3
"""Tables and plots from the per-epoch logs of bench/accuracy/run.

Reads LOGS/*.jsonl (one JSON object per epoch, the nitc `--log` format; the
PyTorch mirror writes the same fields; LOGS defaults to out/accuracy/NAME/logs,
outside the source tree, NAME being DIR's name) and writes DIR/table.md,
DIR/ablations.md, DIR/curves-NET-DATA.svg (one per network and data set: training and test
loss and test accuracy per epoch, int8 against fp32) and DIR/ablations.svg. The curves are
drawn by `nitc plot` (which runs gnuplot, Debian's gnuplot-nox): nitc is NITC, else
build-accuracy/compiler/nitc or build/compiler/nitc in the repository; without nitc or gnuplot
the tables are still written and the curves are skipped with a message. The ablation bars are
drawn by hand (no plotting library).

Log names: int8-NET-DATA.jsonl and fp32-NET-DATA.jsonl form the main table;
int8-NET-DATA-TAG.jsonl are variants (TAG round-MODE and muN are the ablations).
Usage: report.py DIR [LOGS]
"""
import glob, json, os, re, shutil, subprocess, sys

MARKS = [1, 5, 10]
NETNAME = {'lenet5': 'LeNet-5', 'lenet_niti': 'NITI LeNet', 'mlp': 'MLP 784-512-256-10'}
SHORT = {'lenet5': 'LeNet-5', 'lenet_niti': 'NITI LeNet', 'mlp': 'MLP'}
DATANAME = {'mnist': 'MNIST', 'fashion-mnist': 'Fashion-MNIST'}


def load(path):
    with open(path) as f:
        # epoch records only: a nitc log starts each run with a run record
        return [r for r in (json.loads(l) for l in f if l.strip()) if r.get('record') != 'run']


def parse_name(base):
    """int8-lenet5-fashion-mnist-round-pseudo -> ('int8', 'lenet5', 'fashion-mnist', 'round-pseudo')."""
    side, rest = base.split('-', 1)
    for d in sorted(DATANAME, key=len, reverse=True):
        for net in sorted(NETNAME, key=len, reverse=True):
            head = f'{net}-{d}'
            if rest == head:
                return side, net, d, ''
            if rest.startswith(head + '-'):
                return side, net, d, rest[len(head) + 1:]
    parts = rest.split('-')
    return side, parts[0], '-'.join(parts[1:]), ''


def logs_dir(out):
    """Where the per-run logs of an output directory live: out/accuracy/NAME/logs
    under the repository (git-ignored); only the tables and plots are kept."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(repo, 'out', 'accuracy', os.path.basename(os.path.abspath(out)), 'logs')


def collect(logs):
    runs = {}
    for p in sorted(glob.glob(os.path.join(logs, '*.jsonl'))):
        base = os.path.basename(p)[:-6]
        recs = load(p)
        if not recs:
            continue
        cmdf = p[:-6] + '.cmd'
        cmd = json.load(open(cmdf)) if os.path.exists(cmdf) else {}
        runs[parse_name(base)] = {'recs': recs, 'cmd': cmd.get('cmd', '?'),
                                  'date': cmd.get('date', '?'), 'file': base + '.jsonl'}
    return runs


def pct(v):
    return f'{100 * v:.2f}%'


def at(recs, e):
    """(final, best) test accuracy after e epochs, or None when the log is shorter."""
    if len(recs) < e:
        return None
    accs = [r['test_acc'] for r in recs[:e]]
    return accs[-1], max(accs)


def main_table(runs):
    pairs = sorted({(n, d) for (s, n, d, t) in runs if t == ''},
                   key=lambda nd: (list(NETNAME).index(nd[0]) if nd[0] in NETNAME else 9, nd[1]))
    lines = ['| network | data | epochs | int8 final | int8 best | fp32 final | fp32 best | int8 - fp32 (final) |',
             '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |']
    for n, d in pairs:
        i8 = runs.get(('int8', n, d, ''))
        f32 = runs.get(('fp32', n, d, ''))
        longest = max(len(r['recs']) for r in (i8, f32) if r)
        marks = [e for e in MARKS if e <= longest]
        if longest not in marks:
            marks.append(longest)
        for e in marks:
            a = at(i8['recs'], e) if i8 else None
            b = at(f32['recs'], e) if f32 else None
            cell = lambda v, k: pct(v[k]) if v else 'not run'
            diff = f'{100 * (a[0] - b[0]):+.2f}' if a and b else ''
            lines.append(f'| {NETNAME.get(n, n)} | {DATANAME.get(d, d)} | {e} | {cell(a, 0)} | '
                         f'{cell(a, 1)} | {cell(b, 0)} | {cell(b, 1)} | {diff} |')
    return '\n'.join(lines) + '\n'


ABL = re.compile(r'^abl-(.+)-e(\d+)-s(\d+)$')
SEEDED = re.compile(r'^(.*?)(?:-?s(\d+))?$')


def variant_of(tag):
    """(kind, variant, seed) of a tag: kind 'abl' for ablations, 'var' for the rest."""
    m = ABL.match(tag)
    if m:
        return 'abl', m.group(1), int(m.group(3))
    m = SEEDED.match(tag)
    return 'var', (m.group(1) or 'recipe'), int(m.group(2) or 1)


def groups(runs, kind, side='int8'):
    """{(net, data, variant, epochs): [run, ...]} over the seeds."""
    g = {}
    for (s, n, d, t), v in runs.items():
        if s != side:
            continue
        k, var, seed = variant_of(t) if t else ('var', 'recipe', 1)   # main runs are seed 1
        if k != kind:
            continue
        v = dict(v, seed=seed)
        g.setdefault((n, d, var, len(v['recs'])), []).append(v)
    return g


def summary_table(g, with_main=None):
    if not g:
        return '(none run)\n'
    lines = ['| network | data | variant | epochs | seeds | after 1 ep (mean) | after 5 ep (mean) | '
             'test final (mean) | final min..max | best (mean) | train loss (mean, last epoch) |',
             '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for (n, d, var, e), rs in sorted(g.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3],
                                                                 kv[0][2])):
        fin = [100 * r['recs'][-1]['test_acc'] for r in rs]
        best = [100 * max(x['test_acc'] for x in r['recs']) for r in rs]
        loss = [r['recs'][-1]['train_loss'] for r in rs]
        seeds = ','.join(str(r['seed']) for r in sorted(rs, key=lambda r: r['seed']))
        early = []
        for m in (1, 5):
            v = [100 * r['recs'][m - 1]['test_acc'] for r in rs] if e > m else []
            early.append(f'{sum(v) / len(v):.2f}%' if v else '')
        lines.append(f'| {NETNAME.get(n, n)} | {DATANAME.get(d, d)} | {var} | {e} | {seeds} | '
                     f'{early[0]} | {early[1]} | '
                     f'{sum(fin) / len(fin):.2f}% | {min(fin):.2f}..{max(fin):.2f} | '
                     f'{sum(best) / len(best):.2f}% | {sum(loss) / len(loss):.4f} |')
    return '\n'.join(lines) + '\n'


def ablation_table(runs):
    return ('## Ablations\n\n' + summary_table(groups(runs, 'abl')) +
            '\n## Recipe variants and other seeds\n\n' + summary_table(groups(runs, 'var')) +
            '\n## fp32 (PyTorch) over seeds\n\n' + summary_table(groups(runs, 'var', 'fp32')))


def commands(runs, keys):
    return '\n'.join(f'- `{runs[k]["file"]}` ({runs[k]["date"]}): `{runs[k]["cmd"]}`'
                     for k in keys) + '\n'


# ---------------------------------------------------------------- SVG

def nice_ticks(lo, hi, n=5):
    span = hi - lo if hi > lo else 1.0
    raw = span / n
    mag = 10 ** int(f'{raw:e}'.split('e')[1])
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=mag * 10)
    t = (int(lo / step) - (1 if lo < 0 else 0)) * step
    out = []
    while t <= hi + 1e-9:
        if t >= lo - 1e-9:
            out.append(round(t, 10))
        t += step
    return out



def frame(left, top, pw, ph, ylo, yhi, sy, yfmt):
    """A plot's box and its horizontal grid lines with y labels (SVG)."""
    o = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>']
    for t in nice_ticks(ylo, yhi):
        o.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" '
                 f'stroke="#ddd"/><text x="{left - 4}" y="{sy(t) + 4:.1f}" text-anchor="end" '
                 f'font-size="10">{yfmt(t)}</text>')
    return o

def svg_doc(w, h, body):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" font-family="sans-serif">\n'
            f'<rect width="{w}" height="{h}" fill="white"/>\n{body}\n</svg>\n')


def find_nitc():
    """The nitc that draws the curves: $NITC, else one built in the repository."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for cand in [os.environ.get('NITC'), os.path.join(repo, 'build-accuracy', 'compiler', 'nitc'),
                 os.path.join(repo, 'build', 'compiler', 'nitc')]:
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def write_curves(runs, out, logs, nitc=None):
    """curves-NET-DATA.svg for every (network, data set) of the main table, by
    `nitc plot` on the int8 and fp32 logs. Returns the names written."""
    pairs = sorted({(n, d) for (s, n, d, t) in runs if t == ''})
    if not pairs:
        return []
    nitc = nitc or find_nitc()
    if not nitc:
        print('report: no nitc (set NITC or build one): curves skipped', file=sys.stderr)
        return []
    if not shutil.which('gnuplot'):
        print('report: nitc plot needs gnuplot (apt-get install gnuplot-nox): curves skipped',
              file=sys.stderr)
        return []
    written = []
    for n, d in pairs:
        files = [os.path.join(logs, runs[(side, n, d, '')]['file'])
                 for side in ('int8', 'fp32') if (side, n, d, '') in runs]
        name = f'curves-{n}-{d}.svg'
        title = f'{SHORT.get(n, n)}, {DATANAME.get(d, d)}: int8 (nitc) and fp32 (PyTorch)'
        r = subprocess.run([nitc, 'plot', *files, '-o', os.path.join(out, name), '--title', title])
        if r.returncode == 0:
            written.append(name)
        else:
            print(f'report: nitc plot failed for {name}', file=sys.stderr)
    return written


def ablation_svg(runs):
    g = groups(runs, 'abl')
    colors = ['#1f5fbf', '#d9661f', '#2a9d3a', '#9b30c0', '#a05a2c']
    fams = {}
    for (n, d, var, e), rs in g.items():
        if var.startswith('round-'):
            mode, _, sfx = var[len('round-'):].partition('-')
            fam = ('rounding' + (f' ({sfx})' if sfx else ' (recipe m_u)'), n, d, e)
            order = ['pseudo', 'stochastic', 'nearest'].index(mode) if mode in (
                'pseudo', 'stochastic', 'nearest') else 9
            fams.setdefault(fam, []).append((order, mode, rs))
        elif var.startswith('mu'):
            fams.setdefault(('update bits m_u', n, d, e), []).append((int(var[2:]), var[2:], rs))
    if not fams:
        return None
    pw, ph = 390, 220
    body = []
    for col, (fam, items) in enumerate(sorted(fams.items(), key=lambda kv: (kv[0][3], kv[0][0]))):
        title, n, d, e = fam
        bars = []
        for _, label, rs in sorted(items):
            accs = [100 * r['recs'][-1]['test_acc'] for r in rs]
            bars.append((label, sum(accs) / len(accs), min(accs), max(accs), len(accs), e))
        body.append(bar_panel((col % 3) * pw, (col // 3) * ph, pw, ph,
                              f'{title}, {SHORT.get(n, n)} {DATANAME.get(d, d)}, {e} ep, '
                              f'{bars[0][4]} seeds', bars, colors))
    return svg_doc(min(len(fams), 3) * pw, (len(fams) + 2) // 3 * ph, '\n'.join(body))


def bar_panel(x0, y0, w, h, title, bars, colors):
    L, R, T, B = 48, 10, 26, 28
    pw, ph = w - L - R, h - T - B
    lo = min(b[2] for b in bars)
    hi = max(b[3] for b in bars)
    ylo = max(0.0, lo - max(1.0, (hi - lo) * 0.6))
    yhi = hi + max(0.5, (hi - lo) * 0.25)
    sy = lambda y: y0 + T + (yhi - y) / (yhi - ylo) * ph
    o = [f'<text x="{x0 + w / 2:.1f}" y="{y0 + 14}" text-anchor="middle" font-size="11" '
         f'font-weight="bold">{title}</text>']
    o += frame(x0 + L, y0 + T, pw, ph, ylo, yhi, sy, lambda t: f'{t:g}')
    bw = pw / len(bars)
    for i, (v, mean, mn, mx, k, _) in enumerate(bars):
        x = x0 + L + i * bw + bw * 0.2
        o.append(f'<rect x="{x:.1f}" y="{sy(mean):.1f}" width="{bw * 0.6:.1f}" '
                 f'height="{y0 + T + ph - sy(mean):.1f}" fill="{colors[i % len(colors)]}"/>')
        if k > 1:
            cx = x + bw * 0.3
            o.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{sy(mn):.1f}" y2="{sy(mx):.1f}" '
                     f'stroke="black"/>')
        o.append(f'<text x="{x + bw * 0.3:.1f}" y="{sy(mx) - 3:.1f}" text-anchor="middle" '
                 f'font-size="10">{mean:.2f}</text>')
        o.append(f'<text x="{x + bw * 0.3:.1f}" y="{y0 + T + ph + 13}" text-anchor="middle" '
                 f'font-size="10">{v}</text>')
    o.append(f'<text transform="translate({x0 + 11},{y0 + T + ph / 2:.1f}) rotate(-90)" '
             f'text-anchor="middle" font-size="10">test accuracy (%)</text>')
    return '\n'.join(o)


def write_all(out, logs=None, nitc=None):
    """Write the tables and figures; returns the names of the files written."""
    logs = logs or logs_dir(out)
    runs = collect(logs)
    main_keys = sorted(k for k in runs if k[3] == '')
    var_keys = sorted(k for k in runs if k[3] != '')
    with open(os.path.join(out, 'table.md'), 'w') as f:
        f.write('# Test accuracy, int8 (nitc) against fp32 (PyTorch)\n\n')
        f.write('"best" is the best test accuracy of epochs 1..E, "final" the one after epoch E.\n\n')
        f.write(main_table(runs))
        f.write('\nLogs and commands:\n\n' + commands(runs, main_keys))
    with open(os.path.join(out, 'ablations.md'), 'w') as f:
        f.write('# Variants and ablations (int8)\n\n'
                'Final = test accuracy after the last epoch; mean and range over the seeds.\n\n')
        f.write(ablation_table(runs))
        if var_keys:
            f.write('\nCommands:\n\n' + commands(runs, var_keys))
    written = ['table.md', 'ablations.md'] + write_curves(runs, out, logs, nitc)
    svg = ablation_svg(runs)
    if svg:
        with open(os.path.join(out, 'ablations.svg'), 'w') as f:
            f.write(svg)
        written.append('ablations.svg')
    return written


if __name__ == '__main__':
    if len(sys.argv) not in (2, 3):
        sys.exit('usage: report.py DIR [LOGS]')
    write_all(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None)
