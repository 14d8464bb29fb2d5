namespace Engine.Core.Model;

/// <summary>A directory built in a hidden temporary sibling of its target and renamed into place only when
/// complete. Until <see cref="Commit"/>, nothing exists at the target path; disposing without a commit
/// (an error, Ctrl+C) deletes the temporary directory.</summary>
public sealed class AtomicDirectory : IDisposable
{
    private bool _committed;

    private AtomicDirectory(string target, string staging, bool overwrite)
    {
        TargetPath = target;
        StagingPath = staging;
        Overwrite = overwrite;
    }

    public string TargetPath { get; }

    /// <summary>Where files are written until the commit.</summary>
    public string StagingPath { get; }

    public bool Overwrite { get; }

    /// <summary>Checks the target and creates the staging directory. Fails at once when the target exists
    /// and <paramref name="overwrite"/> is false, before any work is done.</summary>
    public static AtomicDirectory Create(string target, bool overwrite)
    {
        target = Path.GetFullPath(target.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        CheckTarget(target, overwrite);
        string parent = Path.GetDirectoryName(target) ?? throw new OutputException($"{target}: output path has no parent directory");
        try
        {
            Directory.CreateDirectory(parent);
            string staging = Path.Combine(parent, $".{Path.GetFileName(target)}.partial-{Environment.ProcessId}-{Guid.NewGuid():N}");
            Directory.CreateDirectory(staging);
            return new AtomicDirectory(target, staging, overwrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"{target}: cannot create output: {e.Message}", e);
        }
    }

    /// <summary>Throws when <paramref name="target"/> exists and may not be replaced.</summary>
    public static void CheckTarget(string target, bool overwrite)
    {
        if (!overwrite && (Directory.Exists(target) || File.Exists(target)))
            throw new OutputException($"{target}: output already exists (pass --overwrite to replace it)");
    }

    /// <summary>Path of a file inside the staging directory.</summary>
    public string PathOf(string relative) => Path.Combine(StagingPath, relative);

    /// <summary>Renames the staging directory to the target, replacing an existing target when allowed.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        CheckTarget(TargetPath, Overwrite);
        string? old = null;
        try
        {
            if (Directory.Exists(TargetPath) || File.Exists(TargetPath))
            {
                old = Path.Combine(Path.GetDirectoryName(TargetPath)!, $".{Path.GetFileName(TargetPath)}.old-{Guid.NewGuid():N}");
                if (Directory.Exists(TargetPath)) Directory.Move(TargetPath, old); else File.Move(TargetPath, old);
            }
            Directory.Move(StagingPath, TargetPath);
            _committed = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (old != null && !Directory.Exists(TargetPath) && !File.Exists(TargetPath))
            {
                if (Directory.Exists(old)) Directory.Move(old, TargetPath); else File.Move(old, TargetPath);
            }
            throw new OutputException($"{TargetPath}: cannot move the finished output into place: {e.Message}", e);
        }
        if (old != null)
        {
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true); else File.Delete(old);
        }
    }

    public void Dispose()
    {
        if (_committed) return;
        _committed = true;
        try
        {
            if (Directory.Exists(StagingPath)) Directory.Delete(StagingPath, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: the staging directory is hidden and never mistaken for a finished output.
        }
    }
}
