using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Engine.Merge.Tests")]
[assembly: InternalsVisibleTo("Engine.Kernels.Tests")]
