namespace Engine.Core.Model;

/// <summary>The checks an output path passes before anything is written: it names a directory that may be
/// replaced, and it shares nothing with the inputs, however the paths are spelled (symbolic links included).</summary>
public static class OutputPaths
{
    /// <summary>Links followed in one path before it is taken as a loop (Linux's own limit).</summary>
    private const int MaxLinks = 40;

    /// <summary>The full path of an output target. Refuses the file-system root, the home directory, and the
    /// current directory or any directory above it: with <c>--overwrite</c> the target is deleted and replaced,
    /// and none of those may ever be.</summary>
    public static string Resolve(string target)
    {
        if (string.IsNullOrWhiteSpace(target)) throw new OutputException("the output path is empty");
        string full;
        try
        {
            full = Path.GetFullPath(target.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) is { Length: > 0 } t ? t : target);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new OutputException($"'{target}': not a usable output path: {e.Message}", e);
        }
        if (Path.GetFileName(full).Length == 0) throw new OutputException($"{full}: an output cannot be the root of the file system");
        string real = Real(full);
        if (Contains(real, Real(Environment.CurrentDirectory)))
            throw new OutputException($"{full}: an output cannot be the current directory or a directory above it");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (home.Length > 0 && real == Real(home)) throw new OutputException($"{full}: an output cannot be the home directory");
        return full;
    }

    /// <summary>Throws when <paramref name="output"/> is, holds or lies inside one of <paramref name="inputs"/>.</summary>
    public static void CheckNoOverlap(string output, IEnumerable<string> inputs)
    {
        foreach (var input in inputs)
            if (Overlap(output, input)) throw new OutputException($"{output}: output path overlaps input model {input}");
    }

    /// <summary>True when <paramref name="a"/> is, holds or lies inside <paramref name="b"/>, symbolic links resolved.</summary>
    public static bool Overlap(string a, string b)
    {
        string realA = Real(a), realB = Real(b);
        return Contains(realA, realB) || Contains(realB, realA);
    }

    /// <summary>The path with every symbolic link in it resolved (as <c>realpath</c>, for the parts that exist).</summary>
    public static string Real(string path) => Real(Path.GetFullPath(path), 0);

    private static string Real(string full, int links)
    {
        string? parent = Path.GetDirectoryName(full);
        if (parent == null) return full;
        string joined = Path.Combine(Real(parent, links), Path.GetFileName(full));
        string? link = new FileInfo(joined).LinkTarget;
        if (link == null || links >= MaxLinks) return joined;
        return Real(Path.GetFullPath(link, Path.GetDirectoryName(joined)!), links + 1);
    }

    /// <summary>True when <paramref name="inner"/> is <paramref name="outer"/> or lies below it.</summary>
    private static bool Contains(string outer, string inner)
    {
        outer = outer.TrimEnd('/');
        return inner == outer || inner.StartsWith(outer + "/", StringComparison.Ordinal) || outer.Length == 0;
    }
}
