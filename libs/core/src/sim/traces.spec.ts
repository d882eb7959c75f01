import { detectFormat, parseAlibabaNodes, parseAlibabaPods, parsePhilly, parsePhillyTimestamp, PHILLY_WINDOW, scaledCount, TraceFormatError } from './traces.js';

const philly = [
  'timestamp,duration,num_gpus,gpu_time,cluster',
  '2017-10-09 07:01:55,66.0,1,66.0,11cb48',
  '2017-09-30 23:59:59,10.0,1,10.0,11cb48',
  '2017-11-30 23:59:59,20.0,2,40.0,ed69ec',
  '2017-12-01 00:00:00,20.0,2,40.0,ed69ec',
  '2017-10-02 00:00:00,5.0,8,40.0,23dbec',
  '',
].join('\n');

const nodes = [
  'sn,cpu_milli,memory_mib,gpu,model',
  'n0,64000,262144,2,P100',
  'n1,64000,262144,2,P100',
  'n2,64000,262144,2,P100',
  'n3,96000,393216,8,G2',
].join('\n');

const pods = [
  'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time',
  'p0,12000,16384,1,1000,,LS,Running,0,100,10',
  'p1,6000,12288,1,460,T4,LS,Running,5,50,5',
  'p2,500,1024,0,0,,BE,Running,7,9,8',
  'p3,11908,47104,1,1000,,BE,Pending,10,20,',
  'p4,8000,4096,2,1000,V100M16|V100M32|V100M32,LS,Failed,3,4,3',
  'p5,8000,4096,0,300,,LS,Running,3,4,3',
].join('\n');

describe('trace loaders', () => {
  it('detects the format from the header', () => {
    expect(detectFormat(philly)).toBe('philly');
    expect(detectFormat(nodes)).toBe('alibaba-nodes');
    expect(detectFormat(pods)).toBe('alibaba-pods');
    expect(detectFormat('a,b\n1,2')).toBeUndefined();
  });

  it('reads Philly timestamps as UTC and keeps 2017-10-01..2017-11-30', () => {
    expect(parsePhillyTimestamp('2017-10-01 00:00:00')).toBe(PHILLY_WINDOW.fromMs);
    expect(parsePhillyTimestamp('2017-10-01')).toBeUndefined();
    const t = parsePhilly(philly);
    expect(t.clusters).toHaveLength(11);
    expect(t.outsideWindow).toBe(2);
    expect(t.otherClusters).toBe(1);
    const byId = Object.fromEntries(t.clusters.map((c) => [c.id, c]));
    expect(byId['11cb48'].nodes).toHaveLength(16);
    expect(byId['11cb48'].nodes[0]).toMatchObject({ gpus: 8, vcpus: 64, memoryMiB: 524288 });
    expect(byId['11cb48'].jobs).toEqual([
      { id: 'philly-2', submitMs: Date.UTC(2017, 9, 9, 7, 1, 55), durationSeconds: 66, gpus: 1, vcpus: 4, memoryMiB: 16384 },
    ]);
    expect(byId.ed69ec.jobs.map((j) => [j.gpus, j.vcpus, j.memoryMiB])).toEqual([[2, 8, 32768]]);
  });

  it('scales Philly node counts (rounded, at least 1) and selects one cluster', () => {
    expect(scaledCount(16, 0.5)).toBe(8);
    expect(scaledCount(8, 0.01)).toBe(1);
    expect(scaledCount(3, 0.5)).toBe(2);
    const t = parsePhilly(philly, { scale: 0.5, cluster: 'ed69ec' });
    expect(t.clusters.map((c) => [c.id, c.nodes.length, c.jobs.length])).toEqual([['ed69ec', 4, 1]]);
    expect(t.otherClusters).toBe(3);
    expect(t.outsideWindow).toBe(1);
    expect(() => parsePhilly(philly, { cluster: 'nope' })).toThrow(TraceFormatError);
  });

  it('reads Alibaba nodes, scaling each node shape', () => {
    expect(parseAlibabaNodes(nodes)).toEqual([
      { id: 'n0', vcpus: 64, memoryMiB: 262144, gpus: 2, gpuModel: 'P100' },
      { id: 'n1', vcpus: 64, memoryMiB: 262144, gpus: 2, gpuModel: 'P100' },
      { id: 'n2', vcpus: 64, memoryMiB: 262144, gpus: 2, gpuModel: 'P100' },
      { id: 'n3', vcpus: 96, memoryMiB: 393216, gpus: 8, gpuModel: 'G2' },
    ]);
    expect(parseAlibabaNodes(nodes, 0.5).map((n) => n.id)).toEqual(['n0', 'n1', 'n3']);
  });

  it('reads Alibaba pods: run time, whole GPUs for sharing pods, model constraints, never-ran pods skipped', () => {
    const p = parseAlibabaPods(pods);
    expect(p.neverRan).toBe(1);
    expect(p.sharingAsWholeGpu).toBe(2);
    expect(p.cpuOnly).toBe(1);
    expect(p.withModelConstraint).toBe(2);
    expect(p.jobs).toEqual([
      { id: 'p0', submitMs: 0, durationSeconds: 90, gpus: 1, vcpus: 12, memoryMiB: 16384 },
      { id: 'p1', submitMs: 5000, durationSeconds: 45, gpus: 1, vcpus: 6, memoryMiB: 12288, gpuModel: ['t4'] },
      { id: 'p2', submitMs: 7000, durationSeconds: 1, gpus: 0, vcpus: 0.5, memoryMiB: 1024 },
      { id: 'p4', submitMs: 3000, durationSeconds: 1, gpus: 2, vcpus: 8, memoryMiB: 4096, gpuModel: ['v100m16', 'v100m32'] },
      { id: 'p5', submitMs: 3000, durationSeconds: 1, gpus: 1, vcpus: 8, memoryMiB: 4096 },
    ]);
  });

  it('names the line of a malformed row', () => {
    expect(() => parsePhilly('timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,x,1,66.0,11cb48')).toThrow('line 2');
    expect(() => parseAlibabaPods('name,cpu_milli\np,1')).toThrow('missing columns');
  });
});
