using System.Runtime.InteropServices;

namespace Engine.Interop.Posix;

/// <summary>The two file-system calls .NET does not offer that atomic output needs on Linux: exchanging two
/// paths in one step (<c>renameat2</c> with <c>RENAME_EXCHANGE</c>, so an output replaced with --overwrite is
/// never absent, not even for an instant) and making a rename durable (<c>fsync</c> of the parent directory).
/// Elsewhere, or where the file system refuses, each reports false and the caller falls back.</summary>
public static partial class PosixFileSystem
{
    /// <summary>glibc's soname: the bare "libc.so" is a linker script that dlopen cannot load.</summary>
    private const string Library = "libc.so.6";
    private const int AtFdCwd = -100;
    private const uint RenameExchange = 2;
    private const int OpenReadOnly = 0, OpenDirectory = 0x10000, OpenCloseOnExec = 0x80000;

    /// <summary>Swaps what <paramref name="a"/> and <paramref name="b"/> name, atomically. False where the
    /// kernel or file system cannot (not Linux, ENOSYS, EINVAL on file systems without exchange).</summary>
    public static bool TryExchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return renameat2(AtFdCwd, a, AtFdCwd, b, RenameExchange) == 0;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false; // not glibc, or one older than 2.28
        }
    }

    /// <summary>Flushes a directory's entries (a rename into it) to the disk. False where that is not possible.</summary>
    public static bool TrySyncDirectory(string path)
    {
        if (!OperatingSystem.IsLinux()) return false;
        int fd;
        try
        {
            fd = open(path, OpenReadOnly | OpenDirectory | OpenCloseOnExec);
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        if (fd < 0) return false;
        try
        {
            return fsync(fd) == 0;
        }
        finally
        {
            close(fd);
        }
    }

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int renameat2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open(string path, int flags);

    [LibraryImport(Library, SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport(Library)]
    private static partial int close(int fd);
}
