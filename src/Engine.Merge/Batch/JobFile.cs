using System.Globalization;
using Engine.Merge.Config;
using YamlDotNet.RepresentationModel;

namespace Engine.Merge.Batch;

/// <summary>A job file: the merges of one batch, each config with its output and (optionally) its device and sweeps.
/// Paths are relative to the job file; outputs to <c>out_root</c>.
/// <code>
/// out_root: merges            # default: the job file's folder; the job log is kept here
/// device: cuda:0,1            # default device of the jobs (the command's --device otherwise)
/// jobs:
///   - config: configs/ms.yml  # a mergekit YAML (one document or a multi-stage plan)
///     out: ms                 # default: the config's file name without its extension
///   - config: configs/fusion.yml
///     device: cuda:2
///     sweep: { lambda: [1.0, 1.5, 2.0] }   # one job per value, named fusion-lambda-1.0, ...
/// </code>
/// Every mistake is one <see cref="MergeConfigException"/> naming the file and the key.</summary>
public sealed record JobFile(string Path, string Root, string? Device, IReadOnlyList<BatchJob> Jobs)
{
    private static readonly string[] TopKeys = ["out_root", "device", "jobs"];
    private static readonly string[] JobKeys = ["config", "out", "device", "sweep"];

    /// <summary>Whether the YAML file at <paramref name="path"/> is a job file (a mapping with <c>jobs:</c>) rather than
    /// a merge config. A file that cannot be read or parsed is left to the config reader to report.</summary>
    public static bool IsJobFile(string path)
    {
        try
        {
            return IsJobFile(YamlLimits.Load(path, YamlLimits.ReadFile(path, "job file")));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Core.EngineException || YamlLimits.IsParseError(e))
        {
            return false;
        }
    }

    /// <summary>Whether the parsed YAML is a job file: one mapping with <c>jobs:</c>.</summary>
    internal static bool IsJobFile(YamlStream stream) =>
        stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode map && MergeConfigReader.Get(map, "jobs") != null;

    /// <summary>Reads the job file and loads every config it lists (each config's own errors name that config).</summary>
    public static JobFile Load(string path) => Load(path, YamlLimits.Load(path, YamlLimits.ReadFile(path, "job file")));

    /// <summary>Loads the job file at <paramref name="path"/> from its parsed YAML.</summary>
    internal static JobFile Load(string path, YamlStream stream)
    {
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode map)
            throw new MergeConfigException($"{path}: a job file is one mapping with a 'jobs' list");
        CheckKeys(path, map, TopKeys);
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        string root = MergeConfigReader.GetString(path, map, "out_root") is { } r ? System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, r)) : folder;
        string? device = MergeConfigReader.GetString(path, map, "device");
        if (MergeConfigReader.Get(map, "jobs") is not YamlSequenceNode { Children.Count: > 0 } list)
            throw new MergeConfigException($"{path}: 'jobs' must be a non-empty list of {{config, out, device, sweep}}");

        var jobs = new List<BatchJob>();
        for (int i = 0; i < list.Children.Count; i++)
        {
            string where = $"{path}: jobs[{i}]";
            if (list.Children[i] is not YamlMappingNode item) throw new MergeConfigException($"{where}: a job must be a mapping with 'config' (and 'out', 'device', 'sweep')");
            CheckKeys(where, item, JobKeys);
            string configPath = MergeConfigReader.GetString(where, item, "config") is { } c
                ? System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, c))
                : throw new MergeConfigException($"{where}: 'config' is required");
            if (!File.Exists(configPath)) throw new MergeConfigException($"{where}.config: {configPath} does not exist");
            string name = MergeConfigReader.GetString(where, item, "out") ?? DefaultName(configPath);
            var config = MergeConfigReader.Load(configPath);
            var job = new BatchJob(System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(name)), config,
                System.IO.Path.GetFullPath(System.IO.Path.Combine(root, name)), MergeConfigReader.GetString(where, item, "device") ?? device) { Origin = where };
            jobs.AddRange(ParameterSweep.Expand(job, ReadSweeps(where, item)));
        }
        return new JobFile(path, root, device, jobs);
    }

    /// <summary>A config's job name: its file name without the extension (<c>a.yml</c> makes <c>a</c>).</summary>
    public static string DefaultName(string configPath) => System.IO.Path.GetFileNameWithoutExtension(configPath);

    private static List<ParameterSweep> ReadSweeps(string where, YamlMappingNode item)
    {
        switch (MergeConfigReader.Get(item, "sweep"))
        {
            case null:
                return [];
            case YamlMappingNode sweeps:
                return sweeps.Children.Select(kv =>
                {
                    string name = kv.Key is YamlScalarNode { Value: { } k } ? k : throw new MergeConfigException($"{where}.sweep: keys must be parameter names");
                    var values = kv.Value is YamlSequenceNode seq && seq.Children.All(v => v is YamlScalarNode)
                        ? seq.Children.Select(v => ((YamlScalarNode)v).Value ?? "")
                        : throw new MergeConfigException($"{where}.sweep.{name}: must be a list of values, such as [1.0, 1.5]");
                    try
                    {
                        return ParameterSweep.Parse($"{name}={string.Join(",", values)}");
                    }
                    catch (MergeConfigException e)
                    {
                        throw new MergeConfigException($"{where}.sweep: {e.Message}");
                    }
                }).ToList();
            default:
                throw new MergeConfigException($"{where}.sweep: must be a mapping of parameter to values, such as {{lambda: [1.0, 1.5]}}");
        }
    }

    private static void CheckKeys(string where, YamlMappingNode map, string[] known)
    {
        foreach (var key in map.Children.Keys)
        {
            string k = key is YamlScalarNode { Value: { } v } ? v : throw new MergeConfigException($"{where}: keys must be plain values");
            if (!known.Contains(k))
                throw new MergeConfigException(string.Create(CultureInfo.InvariantCulture, $"{where}: unknown key '{k}' (known: {string.Join(", ", known)})"));
        }
    }
}
