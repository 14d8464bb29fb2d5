using Microsoft.Win32.SafeHandles;

namespace Engine.Core.Model;

/// <summary>An exclusive claim on an output path for one run, taken before any work so that a second run
/// writing the same output fails at once instead of after computing everything. The lock is the hidden file
/// <c>.NAME.lock</c> beside the target, held with an exclusive advisory lock (flock) and deleted when released;
/// a killed process's lock is dropped by the operating system, so a stale file never blocks a later run.</summary>
public sealed class OutputLock : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly string _path;

    private OutputLock(SafeFileHandle handle, string path)
    {
        _handle = handle;
        _path = path;
    }

    /// <summary>Claims <paramref name="target"/> (a full path); throws <see cref="OutputException"/> when another
    /// process holds it.</summary>
    public static OutputLock Acquire(string target)
    {
        string parent = Path.GetDirectoryName(target) ?? throw new OutputException($"{target}: output path has no parent directory");
        string lockPath = Path.Combine(parent, $".{Path.GetFileName(target)}.lock");
        try
        {
            Directory.CreateDirectory(parent);
            while (true)
            {
                SafeFileHandle handle;
                try
                {
                    handle = File.OpenHandle(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                }
                catch (IOException e) when (File.Exists(lockPath))
                {
                    throw new OutputException($"{target}: another process is writing this output (it holds {lockPath}); wait for it or choose another --out", e);
                }
                // The previous holder deletes the file and then unlocks it: a file opened just before that deletion
                // is locked here but no longer named by the path, so it guards nothing and is opened anew.
                if (!OpenFiles.IsUnlinked(handle)) return new OutputLock(handle, lockPath);
                handle.Dispose();
            }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new OutputException($"{target}: cannot lock the output: {e.Message}", e);
        }
    }

    /// <summary>Deletes the lock file, then unlocks it (in that order, so no one locks a file about to vanish).</summary>
    public void Dispose()
    {
        if (_handle.IsClosed) return;
        try
        {
            File.Delete(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind, an unlocked lock file is harmless: the next run locks it and deletes it in turn.
        }
        _handle.Dispose();
    }
}
