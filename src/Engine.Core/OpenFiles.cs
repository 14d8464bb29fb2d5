using Microsoft.Win32.SafeHandles;

namespace Engine.Core;

/// <summary>What an open file handle says about the file it holds, beyond what .NET exposes.</summary>
public static class OpenFiles
{
    /// <summary>True when the file held by <paramref name="handle"/> has lost its last name: deleted, or replaced
    /// by a rename over it. Linux names such a file "PATH (deleted)" under /proc/self/fd; elsewhere this reports
    /// false and callers rely on their other checks.</summary>
    public static bool IsUnlinked(SafeFileHandle handle) =>
        OperatingSystem.IsLinux()
        && File.ResolveLinkTarget($"/proc/self/fd/{handle.DangerousGetHandle()}", returnFinalTarget: false)?.FullName.EndsWith(" (deleted)", StringComparison.Ordinal) == true;
}
