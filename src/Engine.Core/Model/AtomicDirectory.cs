using Engine.Interop.Posix;
using Microsoft.Win32.SafeHandles;

namespace Engine.Core.Model;

/// <summary>A directory built in a hidden temporary sibling of its target and renamed into place only when
/// complete. Until <see cref="Commit"/>, nothing exists at the target path; disposing without a commit
/// (an error, Ctrl+C) deletes the temporary directory.</summary>
/// <remarks>
/// The staging directory is <c>.NAME.partial-PID-GUID</c> beside the target, and its owner holds an exclusive
/// lock on the file <c>.NAME.partial-PID-GUID.lock</c> for as long as it lives. A process killed outright
/// (SIGKILL, power loss) cannot delete its staging directory, but the operating system drops its lock, so
/// the next <see cref="Create"/> for the same target deletes every partial sibling whose lock it can take:
/// stale output never accumulates, and a concurrent writer's live staging directory is never touched.
/// </remarks>
public sealed class AtomicDirectory : IDisposable
{
    private readonly SafeFileHandle _lock;
    private bool _committed;

    private AtomicDirectory(string target, string staging, bool overwrite, SafeFileHandle lockHandle)
    {
        TargetPath = target;
        StagingPath = staging;
        Overwrite = overwrite;
        _lock = lockHandle;
    }

    /// <summary>The directory that appears, whole, at the commit.</summary>
    public string TargetPath { get; }

    /// <summary>Where files are written until the commit.</summary>
    public string StagingPath { get; }

    /// <summary>Whether an existing target is replaced at the commit (else its existence is an <see cref="OutputException"/>).</summary>
    public bool Overwrite { get; }

    /// <summary>Checks the target, deletes stale partial siblings left by killed writers, and creates the
    /// staging directory. Fails at once when the target exists and <paramref name="overwrite"/> is false,
    /// before any work is done.</summary>
    public static AtomicDirectory Create(string target, bool overwrite)
    {
        target = OutputPaths.Resolve(target);
        CheckTarget(target, overwrite);
        string parent = Path.GetDirectoryName(target) ?? throw new OutputException($"{target}: output path has no parent directory");
        string name = Path.GetFileName(target);
        SafeFileHandle? lockHandle = null;
        try
        {
            Directory.CreateDirectory(parent);
            DeleteStalePartials(parent, name);
            string staging = Path.Combine(parent, $".{name}.partial-{Environment.ProcessId}-{Guid.NewGuid():N}");
            // The lock exists before the directory, so no other process ever sees this directory unlocked.
            lockHandle = File.OpenHandle(staging + ".lock", FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
            Directory.CreateDirectory(staging);
            return new AtomicDirectory(target, staging, overwrite, lockHandle);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            lockHandle?.Dispose();
            throw new OutputException($"{target}: cannot create output: {e.Message}", e);
        }
    }

    /// <summary>Deletes the <c>.NAME.partial-*</c> siblings of a target whose owner is gone (its lock is free).
    /// Returns how many were deleted.</summary>
    public static int DeleteStalePartials(string parent, string name)
    {
        int deleted = 0;
        foreach (var dir in Directory.EnumerateDirectories(parent).Where(d => IsPartialOf(Path.GetFileName(d), name)))
        {
            if (TryDeleteUnlocked(dir, dir + ".lock")) deleted++;
        }
        foreach (var lockFile in Directory.EnumerateFiles(parent, "*.lock").Where(f => IsPartialOf(Path.GetFileName(f)[..^".lock".Length], name)))
        {
            // A lock whose directory is gone: its owner died between the rename and removing the lock.
            if (!Directory.Exists(lockFile[..^".lock".Length])) TryDeleteUnlocked(null, lockFile);
        }
        return deleted;
    }

    /// <summary>True for exactly <c>.NAME.partial-PID-GUID</c>, so the partials of a target named
    /// <c>x.partial-1</c> are never mistaken for those of <c>x</c>.</summary>
    private static bool IsPartialOf(string entry, string name)
    {
        string prefix = $".{name}.partial-";
        if (!entry.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var rest = entry.AsSpan(prefix.Length);
        int dash = rest.IndexOf('-');
        return dash > 0 && int.TryParse(rest[..dash], System.Globalization.NumberStyles.None, null, out _)
            && rest.Length - dash - 1 == 32 && Guid.TryParseExact(rest[(dash + 1)..], "N", out _);
    }

    private static bool TryDeleteUnlocked(string? dir, string lockFile)
    {
        try
        {
            using var held = File.OpenHandle(lockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
            if (dir == null || !Directory.Exists(dir)) return false;
            Directory.Delete(dir, recursive: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Locked by a live writer, or not ours to delete: leave it.
            return false;
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

    /// <summary>Renames the staging directory to the target and makes the rename durable (the parent directory
    /// is synced). An existing target, when it may be replaced, is exchanged with the staging directory in one
    /// atomic step where the file system allows (Linux <c>renameat2</c>), so the target is never missing; the
    /// old output then sits at the staging path and is deleted (by this call, or, after a kill, by the next
    /// writer's stale-partial sweep). Elsewhere it is first moved aside to a partial-named sibling, which the
    /// same sweep removes if the process dies between the two renames.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        CheckTarget(TargetPath, Overwrite);
        string parent = Path.GetDirectoryName(TargetPath)!;
        string? old = null;
        try
        {
            bool exists = Directory.Exists(TargetPath) || File.Exists(TargetPath);
            if (exists && Directory.Exists(TargetPath) && PosixFileSystem.TryExchange(StagingPath, TargetPath))
            {
                old = StagingPath;
            }
            else
            {
                if (exists)
                {
                    old = Path.Combine(parent, $".{Path.GetFileName(TargetPath)}.partial-{Environment.ProcessId}-{Guid.NewGuid():N}");
                    if (Directory.Exists(TargetPath)) Directory.Move(TargetPath, old); else File.Move(TargetPath, old);
                }
                Directory.Move(StagingPath, TargetPath);
            }
            _committed = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (old != null && old != StagingPath && !Directory.Exists(TargetPath) && !File.Exists(TargetPath))
            {
                if (Directory.Exists(old)) Directory.Move(old, TargetPath); else File.Move(old, TargetPath);
            }
            throw new OutputException($"{TargetPath}: cannot move the finished output into place: {e.Message}", e);
        }
        PosixFileSystem.TrySyncDirectory(parent);
        try
        {
            if (old != null && Directory.Exists(old)) Directory.Delete(old, recursive: true);
            else if (old != null) File.Delete(old);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The new output is in place; the old one has a partial name, so the next writer's sweep removes it.
        }
        finally
        {
            _lock.Dispose();
        }
    }

    /// <summary>Without a commit, deletes the staging directory, so nothing half-written stays; then releases the lock.</summary>
    public void Dispose()
    {
        if (_committed) return;
        _committed = true;
        try
        {
            if (Directory.Exists(StagingPath)) Directory.Delete(StagingPath, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the staging directory is hidden, never mistaken for a finished output, and the next
            // writer of this target deletes it once this lock is gone.
        }
        _lock.Dispose();
    }
}
