using System.Collections.Immutable;
using Engine.Merge.Config;

namespace Engine.Merge.Execution;

/// <summary>One input of a tensor's merge: which stage input, and which of its tensors (in a sliced merge the
/// source layer's name, not the output's).</summary>
public sealed record RecipeInput(InputRef Input, string Tensor, ParameterSet Parameters);

/// <summary>How one output tensor of a stage is made: the document as the method sees it (a slice's, in a sliced
/// merge), the base and the other inputs with the tensor each is read from, and the gradient position.</summary>
/// <param name="Name">The output tensor.</param>
/// <param name="Document">The document the method reads its parameters from (a slice's view in a sliced merge).</param>
/// <param name="Base">The base input, when the merge has one.</param>
/// <param name="Others">The other inputs, in the order written.</param>
/// <param name="LayerPosition">mergekit's gradient position t in [0, 1].</param>
/// <param name="Slice">The output slice (0-based) the tensor belongs to, -1 in a <c>models:</c> merge.</param>
/// <param name="OutputLayer">The output decoder layer, -1 outside the decoder.</param>
public sealed record TensorRecipe(string Name, MergeDocument Document, RecipeInput? Base, ImmutableArray<RecipeInput> Others,
    double LayerPosition, int Slice, int OutputLayer)
{
    /// <summary>Base first (when there is one), then the others.</summary>
    public IEnumerable<RecipeInput> Inputs => (Base is null ? Enumerable.Empty<RecipeInput>() : [Base]).Concat(Others);
}
