#!/usr/bin/env python3
# A/B of hyve-blk variants, outside `make bench`: each variant is a
# standalone hyve-blk --nocache on the same image (IMG, default
# /dev/shm/ab.img, made with 1 GiB of random data if missing and removed
# at the end), driven by
# bench/vublk in turn, job by job, RUNS times for SECS seconds; FIO=1 adds
# host fio.  Prints per job the median IOPS (min-max), the ratio to the
# first variant, p50 and the backend's CPU per request.
#   python3 bench/blk-ab.py RUNS SECS "name:hyve-blk args" ...
# An argument ENV_X=Y sets X=Y in that hyve-blk's environment; FE_OPT
# passes OPT to vublk for that variant (FE_--event-idx).  JOBS
# (rw:bs:depth ...) and VUBLK (extra vublk options) as in bench/blk.sh.
import json, subprocess, sys, os, time, statistics, signal
B=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'build')
runs=int(sys.argv[1]); secs=sys.argv[2]
variants=[v.split(':',1) for v in sys.argv[3:] if ':' in v]
jobs=os.environ.get('JOBS','randread:4096:1 randread:4096:32 randwrite:4096:32 read:131072:32').split()
img=os.environ.get('IMG','/dev/shm/ab.img')
made=not os.path.exists(img)
if made:
    subprocess.run(f'dd if=/dev/urandom of={img} bs=1M count=1024 status=none',shell=True,check=True)
res={}
procs={}
for name,args in variants:
    sock=f'/tmp/hyve-ab-{name}.sock'
    env=dict(os.environ)
    for a in args.split():
        if a.startswith('ENV_'):
            k,v=a[4:].split('=',1); env[k]=v
    cargs=[a for a in args.split() if not a.startswith(('ENV_','FE_'))]
    fe=[a[3:] for a in args.split() if a.startswith('FE_')]
    p=subprocess.Popen([B+'/hyve-blk','--socket',sock,'--file',img,'--nocache']+cargs,stderr=open(f'/tmp/hyve-ab-{name}.err','w'),env=env)
    procs[name]=(p,sock,fe)
time.sleep(0.5)
extra=os.environ.get('VUBLK','').split()
for r in range(runs):
    for j in jobs:
        rw,bs,qd=j.split(':')
        for name,_ in variants:
            p,sock,fe=procs[name]
            o=subprocess.run([B+'/bench/vublk','--socket',sock,'--pid',str(p.pid),'--rw',rw,'--bs',bs,'--depth',qd,'--time',secs]+extra+fe,capture_output=True,text=True)
            kv=dict(x.split('=') for x in o.stdout.split()[5:])
            res.setdefault((j,name),[]).append(kv)
        if os.environ.get('FIO'):
            o=subprocess.run(['fio','--name=b','--filename='+img,'--ioengine=io_uring','--direct=1','--rw='+rw,'--bs='+bs,'--iodepth='+qd,'--ramp_time=500ms','--runtime='+secs,'--time_based','--output-format=json'],capture_output=True,text=True)
            jj=json.loads(o.stdout)['jobs'][0]; d=jj['write'] if rw=='randwrite' else jj['read']
            res.setdefault((j,'fio'),[]).append({'iops':d['iops'],'p50_us':d['clat_ns']['percentile']['50.000000']/1e3,'cpu_us':(jj['usr_cpu']+jj['sys_cpu'])/100/d['iops']*1e6,'fe_cpu_us':0})
for name,(p,s,_) in procs.items():
    p.send_signal(signal.SIGTERM); p.wait()
if made:
    os.unlink(img)
names=[n for n,_ in variants]+(['fio'] if os.environ.get('FIO') else [])
for j in jobs:
    line=[j]
    base=None
    for n in names:
        L=res[(j,n)]
        iops=[float(x['iops']) for x in L]
        m=statistics.median(iops)
        if base is None: base=m
        cpu=statistics.median([float(x['cpu_us']) for x in L])
        p50=statistics.median([float(x['p50_us']) for x in L])
        line.append(f"{n}: {m:.0f} ({min(iops):.0f}-{max(iops):.0f}) x{m/base:.2f} p50 {p50:.1f} cpu {cpu:.2f}")
    print(' | '.join(line))
