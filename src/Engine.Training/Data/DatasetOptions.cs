using Engine.Training.Templates;

namespace Engine.Training.Data;

/// <summary>How <see cref="SftDataset"/>.Load turns rows into examples.</summary>
/// <param name="Template">The chat template for text rows.</param>
/// <param name="SystemPrompt">The system prompt for conversations without one: null = the template's default,
/// "" = no system block. A row's own system prompt always wins.</param>
/// <param name="SkipBadRows">Count bad rows and go on instead of failing on the first.</param>
public sealed record DatasetOptions(ChatTemplateName Template = ChatTemplateName.Qwen, string? SystemPrompt = null, bool SkipBadRows = false);
