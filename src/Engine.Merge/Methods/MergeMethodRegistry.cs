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

    public static IEnumerable<string> Names => Methods.Keys.Order(StringComparer.Ordinal);

    public static IEnumerable<IMergeMethod> All => Names.Select(n => Methods[n]);

    public static bool TryGet(string name, out IMergeMethod method) => Methods.TryGetValue(name, out method!);

    public static IMergeMethod Get(string name) => Methods[name];
}
