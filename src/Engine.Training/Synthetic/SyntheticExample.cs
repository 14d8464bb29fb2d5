namespace Engine.Training.Synthetic;

/// <summary>One generated exchange: the user's question and the assistant's reply, whose answer is the content of
/// its last <c>\boxed{...}</c> (the rule of <see cref="Evaluation.AnswerExtraction"/>).</summary>
internal sealed record SyntheticExample(string Prompt, string Reply);

/// <summary>A source of exchanges of one kind (a domain, or a task of the general mixture). Every value comes from
/// the <see cref="Random"/> passed in, so a seed fixes every row.</summary>
internal interface IExampleGenerator
{
    /// <summary>The name used for files and recipe keys (lower case, no spaces).</summary>
    string Name { get; }

    /// <summary>What the generated rows measure, in one sentence.</summary>
    string Description { get; }

    SyntheticExample Next(Random random);
}
