using Engine.Core.Model;

namespace Engine.Merge.Execution;

/// <summary>The layer layout and tensor names of a stage's inputs, a model's layout read once however many
/// stages and slices use it.</summary>
internal sealed class InputLayouts
{
    private readonly Dictionary<ModelDirectory, ModelLayout> _models = new();

    public ModelLayout Of(InputRef input) => input switch
    {
        InputRef.Model m => _models.TryGetValue(m.Directory, out var l) ? l : _models[m.Directory] = ModelLayout.Detect(m.Label, m.Directory),
        InputRef.Stage s => s.Node.Layout,
        _ => throw new InvalidOperationException(),
    };

    public IReadOnlyList<string> NamesOf(InputRef input) => NamesOfInput(input);

    /// <summary>A model's tensors, or an earlier stage's output tensors.</summary>
    public static IReadOnlyList<string> NamesOfInput(InputRef input) => input switch
    {
        InputRef.Model m => m.Directory.Tensors.Select(t => t.Name).ToList(),
        InputRef.Stage s => MergePlan.OutputNames(s.Node),
        _ => throw new InvalidOperationException(),
    };
}
