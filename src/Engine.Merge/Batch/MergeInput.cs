using Engine.Merge.Config;

namespace Engine.Merge.Batch;

/// <summary>The one YAML file given to <c>engine merge</c>, read and parsed once: either a <see cref="Batch.JobFile"/>
/// (a mapping with <c>jobs:</c>) or a merge config, exactly one of <see cref="JobFile"/> and <see cref="Config"/> set.
/// Telling the two apart needs the parse, so the same tree then builds whichever it is. A file that cannot be read or
/// is not valid YAML is neither: its error (naming the file, and the line) is thrown here, before the command line is
/// judged by what that file would have needed (a config's <c>--out</c>, say).</summary>
public sealed class MergeInput
{
    private MergeInput(JobFile? jobFile, MergeConfig? config) => (JobFile, Config) = (jobFile, config);

    /// <summary>The job file, when the file is one (its configs loaded).</summary>
    public JobFile? JobFile { get; }

    /// <summary>The merge config, when the file is not a job file.</summary>
    public MergeConfig? Config { get; }

    /// <summary>Reads, parses and loads the file at <paramref name="path"/>.</summary>
    /// <exception cref="MergeConfigException">The file cannot be read, is not valid YAML, or is a job file or config with
    /// a mistake; the message names the file.</exception>
    public static MergeInput Load(string path)
    {
        string text = YamlLimits.ReadFile(path, "config");
        var stream = YamlLimits.Load(path, text);
        return JobFile.IsJobFile(stream)
            ? new MergeInput(JobFile.Load(path, stream), null)
            : new MergeInput(null, MergeConfigReader.Parse(path, text, stream));
    }
}
