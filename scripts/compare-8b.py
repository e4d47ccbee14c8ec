#!/usr/bin/env python3
# Compares chare-bench binaries (e.g. built from two commits) on the local layer at 8 B:
#   python3 scripts/compare-8b.py ROUNDS BIN...
# Each round runs, for every binary in turn: raw latency, chare latency via channel and via entry, raw
# latency again, raw bandwidth, chare bandwidth, raw bandwidth again (`--runs 5` each). Per round, the
# overhead is chare - (mean of the two raw runs around it) and the bandwidth ratio chare / raw; printed
# are the medians over rounds and every round's values (the dev VM switches between fast and slow
# periods, so only values of one round compare). Used for docs/perf.md v0.6.
import subprocess, sys, statistics
rounds=int(sys.argv[1]); bins=sys.argv[2:]
def run(b,*a):
    o=subprocess.run([b,*a,'--min-size','8','--max-size','8','--runs','5'],capture_output=True,text=True).stdout
    return [l for l in o.splitlines() if l and not l.startswith('#')][-1].split()
lat=lambda b,*a: float(run(b,'latency','--iters','200000',*a)[2])
bw=lambda b,*a: float(run(b,'bandwidth',*a)[3])
R={b:{'raw':[],'chan':[],'entry':[],'bwraw':[],'bwch':[]} for b in bins}
for r in range(rounds):
    for b in bins:
        x=R[b]
        x['raw'].append(lat(b,'--model','raw')); x['chan'].append(lat(b,'--model','chare','--via','channel'))
        x['entry'].append(lat(b,'--model','chare','--via','entry')); x['raw'].append(lat(b,'--model','raw'))
        x['bwraw'].append(bw(b,'--model','raw')); x['bwch'].append(bw(b,'--model','chare')); x['bwraw'].append(bw(b,'--model','raw'))
for b in bins:
    x=R[b]; raw=[(x['raw'][2*i]+x['raw'][2*i+1])/2 for i in range(rounds)]; bwr=[(x['bwraw'][2*i]+x['bwraw'][2*i+1])/2 for i in range(rounds)]
    oc=[c-r for c,r in zip(x['chan'],raw)]; oe=[c-r for c,r in zip(x['entry'],raw)]; q=[c/r for c,r in zip(x['bwch'],bwr)]
    m=statistics.median
    print(f"{b.split('/')[-1]}: raw {m(raw):.3f} chan {m(x['chan']):.3f} entry {m(x['entry']):.3f} | overhead chan {m(oc):.3f} entry {m(oe):.3f} | bw raw {m(bwr):.1f} chare {m(x['bwch']):.1f} ratio {m(q):.2f}")
    print(f"   per round: ovh chan {[round(v,3) for v in oc]} entry {[round(v,3) for v in oe]} ratio {[round(v,2) for v in q]} raw {[round(v,3) for v in raw]}")
