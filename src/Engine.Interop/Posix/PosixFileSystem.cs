using System.Runtime.InteropServices;

namespace Engine.Interop.Posix;

/// <summary>The file-system calls .NET does not offer: exchanging two paths in one step (<c>renameat2</c> with
/// <c>RENAME_EXCHANGE</c>, so an output replaced with --overwrite is never absent, not even for an instant),
/// making a rename durable (<c>fsync</c> of the parent directory), and read-ahead advice for input prefetching.
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

    /// <summary>Asks the kernel to read a byte range of an open file into the page cache in the background
    /// (<c>posix_fadvise(POSIX_FADV_WILLNEED)</c>): a prefetch that copies nothing. False where that is not possible.</summary>
    public static bool TryAdviseWillNeed(Microsoft.Win32.SafeHandles.SafeFileHandle file, long offset, long length)
    {
        if (!OperatingSystem.IsLinux() || file.IsInvalid || file.IsClosed) return false;
        bool added = false;
        try
        {
            file.DangerousAddRef(ref added);
            return posix_fadvise((int)file.DangerousGetHandle(), offset, length, AdviseWillNeed) == 0;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
        finally
        {
            if (added) file.DangerousRelease();
        }
    }

    private const int AdviseWillNeed = 3;

    [LibraryImport(Library)]
    private static partial int posix_fadvise(int fd, long offset, long length, int advice);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int renameat2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open(string path, int flags);

    [LibraryImport(Library, SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport(Library)]
    private static partial int close(int fd);
}
