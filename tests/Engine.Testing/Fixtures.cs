namespace Engine.Testing;

/// <summary>The committed files under <c>tests/fixtures</c>, copied beside the test assembly by the build.</summary>
public static class Fixtures
{
    public static string Path(params string[] parts) => System.IO.Path.Combine([AppContext.BaseDirectory, "fixtures", .. parts]);
}
