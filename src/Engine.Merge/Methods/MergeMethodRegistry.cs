namespace Engine.Merge.Methods;

/// <summary>Every merge method the engine knows, by its mergekit name.</summary>
public static class MergeMethodRegistry
{
    private static readonly IReadOnlyDictionary<string, IMergeMethod> Methods =
        new IMergeMethod[]
        {
            new ArceeFusion(),
            new Linear(),
            new TaskArithmetic(),
            new Ties(),
            new DareTies(),
            new DareLinear(),
            new Breadcrumbs(),
            new BreadcrumbsTies(),
            new Della(),
            new DellaLinear(),
            new Slerp(),
            new NuSlerp(),
            new MultiSlerp(),
            new Karcher(),
            new ModelStock(),
            new Sce(),
            new NearSwap(),
            new Ram(),
            new RamPlusTensorLocal(),
            new Passthrough(),
        }.ToDictionary(m => m.Name, StringComparer.Ordinal);

    /// <summary>Every method's <c>merge_method</c> name, in ordinal order.</summary>
    public static IEnumerable<string> Names => Methods.Keys.Order(StringComparer.Ordinal);

    /// <summary>Every method, ordered by name.</summary>
    public static IEnumerable<IMergeMethod> All => Names.Select(n => Methods[n]);

    /// <summary>The method named <paramref name="name"/> (case-sensitive, as mergekit), or false.</summary>
    public static bool TryGet(string name, out IMergeMethod method) => Methods.TryGetValue(name, out method!);

    /// <summary>The method named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No method has that name; use <see cref="TryGet"/> for config input.</exception>
    public static IMergeMethod Get(string name) => Methods[name];
}
