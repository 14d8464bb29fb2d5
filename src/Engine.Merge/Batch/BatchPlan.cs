using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Batch;

/// <summary>A checked batch: every job's plan opened (so every input validated), outputs resolved and checked (distinct,
/// none inside any job's input, none in the way unless replaced), finished jobs found in the log when resuming, and the
/// jobs grouped into clusters that run together. A cluster is the jobs of one device setting connected by a shared
/// input model: its work is one pass over the union of its jobs' output tensor names, each name computed for every
/// job that has it on one worker, so each input tensor is read once and common steps are computed once. Clusters run
/// one after another, so the jobs of an earlier cluster are published (and survive a kill) before a later one starts.</summary>
public sealed class BatchPlan : IDisposable
{
    private BatchPlan(BatchOptions options, IReadOnlyList<PlannedJob> jobs, IReadOnlyList<PlannedCluster> clusters, StepSignatures signatures)
    {
        Options = options;
        Jobs = jobs;
        Clusters = clusters;
        Signatures = signatures;
    }

    /// <summary>The options the plan was made with.</summary>
    public BatchOptions Options { get; }
    /// <summary>Every job, in the order given (skipped ones included, with <see cref="PlannedJob.Skip"/> set).</summary>
    public IReadOnlyList<PlannedJob> Jobs { get; }
    /// <summary>The jobs grouped by the inputs they share; clusters run one after another.</summary>
    public IReadOnlyList<PlannedCluster> Clusters { get; }
    internal StepSignatures Signatures { get; }

    /// <summary>One job, planned.</summary>
    /// <param name="Job">The job as given.</param>
    /// <param name="Plan">Its opened merge plan.</param>
    /// <param name="Tensors">Its output tensors, in output order.</param>
    /// <param name="Output">The resolved output directory.</param>
    /// <param name="Key">The job's key in the log (<see cref="BatchLog.KeyOf"/>).</param>
    /// <param name="Skip">True when resuming and the log records the job finished with this key, its output in place.</param>
    public sealed record PlannedJob(BatchJob Job, MergePlan Plan, IReadOnlyList<PlannedTensor> Tensors, string Output, string Key, bool Skip)
    {
        /// <summary>Bytes of tensor data the job writes: <c>Σ</c> over its tensors of elements × dtype size.</summary>
        public long OutputBytes => Tensors.Sum(t => t.Spec.ByteLength);
    }

    /// <summary>One output tensor name of a cluster and the jobs that write a tensor of that name (job index into
    /// <see cref="Jobs"/>, the tensor's index in that job's plan).</summary>
    public sealed record TensorGroup(string Name, IReadOnlyList<(int Job, int Tensor)> Members);

    /// <summary>Jobs that run together on one device setting.</summary>
    /// <param name="Device">The device setting the pass runs on.</param>
    /// <param name="Jobs">Its jobs (indices into <see cref="BatchPlan.Jobs"/>), sweeps' jobs next to each other.</param>
    /// <param name="Groups">Its output tensor names in output order, each with the jobs that write it.</param>
    /// <param name="UniqueReads">Input tensor reads the pass makes (each tensor once per output name that needs it) and their
    /// bytes.</param>
    /// <param name="JobReads">What the jobs would read merged one by one.</param>
    /// <param name="Rereads">Of <paramref name="UniqueReads"/>, reads of a tensor already read for another output name
    /// (slices that move layers read their sources under the output's name).</param>
    /// <param name="SharedSteps">Intermediate steps of two or more jobs computed once for them (by stage).</param>
    /// <param name="SharedImportances">Arcee Fusion stages whose importance and quartiles two or more jobs (a lambda
    /// sweep) share.</param>
    /// <param name="LargestGroupBytes">The most input bytes one tensor name reads: what a worker holds at once.</param>
    public sealed record PlannedCluster(string Device, IReadOnlyList<int> Jobs, IReadOnlyList<TensorGroup> Groups,
        (int Tensors, long Bytes) UniqueReads, (int Tensors, long Bytes) JobReads, int Rereads, int SharedSteps, int SharedImportances, long LargestGroupBytes);

    /// <summary>Checks and plans <paramref name="jobs"/>; throws a one-line error naming the job for anything wrong.</summary>
    public static BatchPlan Create(IReadOnlyList<BatchJob> jobs, BatchOptions options)
    {
        if (jobs.Count == 0) throw new MergeConfigException("the batch has no jobs");
        var names = new Dictionary<string, BatchJob>(StringComparer.Ordinal);
        var outputs = new Dictionary<string, BatchJob>(StringComparer.Ordinal);
        var resolved = new List<string>();
        foreach (var job in jobs)
        {
            if (names.TryGetValue(job.Name, out var other))
                throw new MergeConfigException($"{job.Origin}: job name '{job.Name}' is also the name of the job from {other.Origin}; give each job its own output name");
            names[job.Name] = job;
            string output = OutputPaths.Resolve(job.OutputPath);
            string real = OutputPaths.Real(output);
            if (outputs.TryGetValue(real, out other))
                throw new MergeConfigException($"{job.Origin}: output {output} is also the output of job '{other.Name}' ({other.Origin})");
            // One output inside another would be swept away when the outer one is published (or block it).
            foreach (var (path, owner) in outputs)
            {
                if (OutputPaths.Overlap(real, path))
                    throw new MergeConfigException($"{job.Origin}: output {output} of job '{job.Name}' is nested with output {path} of job '{owner.Name}' ({owner.Origin}); give each job a separate folder");
            }
            outputs[real] = job;
            resolved.Add(output);
        }

        var finished = options.Resume ? BatchLog.Finished(options.Root) : new Dictionary<string, string>();
        var planned = new List<PlannedJob>();
        try
        {
            for (int i = 0; i < jobs.Count; i++)
            {
                var job = jobs[i];
                var plan = MergePlan.Create(job.Config, options.MethodOverride);
                try
                {
                    string key = BatchLog.KeyOf(job, options.MaxShardBytes);
                    bool skip = finished.TryGetValue(job.Name, out var done) && done == key && Directory.Exists(resolved[i]);
                    planned.Add(new PlannedJob(job, plan, plan.PlanTensors(plan.Output), resolved[i], key, skip));
                }
                catch
                {
                    plan.Dispose();
                    throw;
                }
            }
            foreach (var job in planned)
            {
                // A batch computes every job from the inputs as they are now: one job cannot read another's output.
                foreach (var reader in planned)
                {
                    foreach (var model in reader.Plan.Models.Where(m => OutputPaths.Overlap(job.Output, m.Path)))
                        throw new MergeConfigException($"{job.Job.Origin}: output {job.Output} of job '{job.Job.Name}' overlaps input model {model.Path} of job '{reader.Job.Name}'; run the job that makes it first, in a batch of its own");
                }
                if (!job.Skip) AtomicDirectory.CheckTarget(job.Output, options.Overwrite);
            }
            var signatures = new StepSignatures(planned.Select(p => p.Plan));
            return new BatchPlan(options, planned, Cluster(planned, options, signatures), signatures);
        }
        catch
        {
            foreach (var p in planned) p.Plan.Dispose();
            throw;
        }
    }

    /// <summary>Unions jobs of the same device setting that read a common model (skipped jobs take no part).</summary>
    private static List<PlannedCluster> Cluster(List<PlannedJob> jobs, BatchOptions options, StepSignatures signatures)
    {
        var parent = Enumerable.Range(0, jobs.Count).ToArray();
        int Find(int x) => parent[x] == x ? x : parent[x] = Find(parent[x]);
        string DeviceOf(PlannedJob j) => j.Job.Device ?? options.Device;
        var owner = new Dictionary<(string Device, string Model), int>();
        for (int i = 0; i < jobs.Count; i++)
        {
            if (jobs[i].Skip) continue;
            foreach (var model in jobs[i].Plan.Models)
            {
                var key = (DeviceOf(jobs[i]), signatures.ModelKey(model));
                if (owner.TryGetValue(key, out int j)) parent[Find(i)] = Find(j);
                else owner[key] = i;
            }
        }
        return Enumerable.Range(0, jobs.Count).Where(i => !jobs[i].Skip).GroupBy(Find)
            .Select(g => Describe(jobs, g.ToList(), DeviceOf(jobs[g.First()]), signatures)).ToList();
    }

    private static PlannedCluster Describe(List<PlannedJob> jobs, List<int> members, string device, StepSignatures signatures)
    {
        // Jobs whose last stage differs only in lambda run one after another within each tensor name: a GPU keeps one
        // importance at a time, so the sweep's jobs must follow each other to share it.
        var firstOfKind = new Dictionary<string, int>();
        members = members.OrderBy(j => signatures.WithoutLambda(jobs[j].Plan.Output) is { } key
            ? firstOfKind.TryAdd(key, j) ? j : firstOfKind[key]
            : j).ToList();
        var groups = new Dictionary<string, List<(int, int)>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (int j in members)
        {
            for (int t = 0; t < jobs[j].Tensors.Count; t++)
            {
                string name = jobs[j].Tensors[t].Name;
                if (!groups.TryGetValue(name, out var list))
                {
                    groups[name] = list = new List<(int, int)>();
                    order.Add(name);
                }
                list.Add((j, t));
            }
        }
        int uniqueCount = 0, jobCount = 0;
        long uniqueBytes = 0, jobBytes = 0, largest = 0;
        var everRead = new HashSet<(string, string)>();
        foreach (var name in order)
        {
            var seen = new HashSet<(string, string)>();
            long groupBytes = 0;
            foreach (var (j, _) in groups[name])
            {
                foreach (var (model, tensor) in jobs[j].Plan.Reads(jobs[j].Plan.Output, name))
                {
                    long bytes = model.TryGetTensor(tensor, out var t) ? t.Info.ByteLength : 0;
                    jobCount++;
                    jobBytes += bytes;
                    if (!seen.Add((signatures.ModelKey(model), tensor))) continue;
                    everRead.Add((signatures.ModelKey(model), tensor));
                    uniqueCount++;
                    uniqueBytes += bytes;
                    groupBytes += bytes;
                }
            }
            largest = Math.Max(largest, groupBytes);
        }
        int CountShared(Func<MergeStage, string?> sign, bool intermediateOnly) => members
            .SelectMany(j => jobs[j].Plan.Stages.Where(s => !intermediateOnly || s != jobs[j].Plan.Output).Select(s => (Job: j, Sign: sign(s))))
            .Where(x => x.Sign != null).Distinct().GroupBy(x => x.Sign).Count(g => g.Count() > 1);
        int steps = CountShared(signatures.Of, intermediateOnly: true);
        int importances = CountShared(s => s.Method is Methods.ArceeFusion ? signatures.WithoutLambda(s) : null, intermediateOnly: false);
        return new PlannedCluster(device, members, order.Select(n => new TensorGroup(n, groups[n])).ToList(),
            (uniqueCount, uniqueBytes), (jobCount, jobBytes), uniqueCount - everRead.Count, steps, importances, largest);
    }

    /// <summary>The plan as text: every job with its config, output and device, then each cluster's device, tensors,
    /// reads (against merging the jobs one by one) and shared steps.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        int run = Jobs.Count(j => !j.Skip);
        text.Append(CultureInfo.InvariantCulture, $"batch: {Jobs.Count} jobs ({run} to run, {Jobs.Count - run} finished earlier), output root {Options.Root}\n");
        foreach (var j in Jobs)
        {
            var methods = string.Join(" -> ", j.Plan.Stages.Select(s => s.Method.Name));
            text.Append(CultureInfo.InvariantCulture,
                $"  {j.Job.Name}: {j.Job.Config.Path} ({methods}) -> {j.Output} [{(j.Skip ? "finished, skipped" : j.Job.Device ?? Options.Device)}], {j.Tensors.Count} tensors, {Gb(j.OutputBytes)}\n");
        }
        for (int c = 0; c < Clusters.Count; c++)
        {
            var k = Clusters[c];
            text.Append(CultureInfo.InvariantCulture,
                $"pass {c + 1} on {k.Device}: jobs {string.Join(", ", k.Jobs.Select(j => Jobs[j].Job.Name))}; {k.Groups.Count} tensor names, each computed for all its jobs on one worker\n");
            text.Append(CultureInfo.InvariantCulture,
                $"  reads {k.UniqueReads.Tensors} input tensors ({Gb(k.UniqueReads.Bytes)}) once, for {k.JobReads.Tensors} job reads ({Gb(k.JobReads.Bytes)}); at most {Gb(k.LargestGroupBytes)} of inputs held per worker\n");
            if (k.Rereads > 0) text.Append(CultureInfo.InvariantCulture, $"  {k.Rereads} of those reads are of a tensor read for another output name too (slices moving layers)\n");
            if (k.SharedSteps > 0) text.Append(CultureInfo.InvariantCulture, $"  {k.SharedSteps} intermediate step(s) shared between jobs, computed once\n");
            if (k.SharedImportances > 0) text.Append(CultureInfo.InvariantCulture, $"  {k.SharedImportances} arcee_fusion step(s) whose importance and quartiles are computed once for every lambda\n");
        }
        return text.ToString();
    }

    /// <summary>The plan as one JSON object (the <c>plan</c> event of <c>--json</c>).</summary>
    public JsonObject ToJson() => new()
    {
        ["event"] = "plan",
        ["root"] = Options.Root,
        ["jobs"] = new JsonArray(Jobs.Select(j => (JsonNode)new JsonObject
        {
            ["job"] = j.Job.Name,
            ["config"] = j.Job.Config.Path,
            ["output"] = j.Output,
            ["device"] = j.Job.Device ?? Options.Device,
            ["tensors"] = j.Tensors.Count,
            ["bytes"] = j.OutputBytes,
            ["skip"] = j.Skip,
        }).ToArray()),
        ["passes"] = new JsonArray(Clusters.Select(k => (JsonNode)new JsonObject
        {
            ["device"] = k.Device,
            ["jobs"] = new JsonArray(k.Jobs.Select(j => (JsonNode)Jobs[j].Job.Name).ToArray()),
            ["tensor_names"] = k.Groups.Count,
            ["reads"] = k.UniqueReads.Tensors,
            ["read_bytes"] = k.UniqueReads.Bytes,
            ["job_reads"] = k.JobReads.Tensors,
            ["job_read_bytes"] = k.JobReads.Bytes,
            ["rereads"] = k.Rereads,
            ["shared_steps"] = k.SharedSteps,
            ["shared_importances"] = k.SharedImportances,
            ["largest_group_bytes"] = k.LargestGroupBytes,
        }).ToArray()),
    };

    private static string Gb(long bytes) => bytes >= 1L << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F2} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F1} MiB");

    /// <summary>Closes every job's merge plan (and so the input models it opened).</summary>
    public void Dispose()
    {
        foreach (var j in Jobs) j.Plan.Dispose();
    }
}
