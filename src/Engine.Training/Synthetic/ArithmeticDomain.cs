using System.Globalization;
using System.Text;

namespace Engine.Training.Synthetic;

/// <summary>The math domain: the sum of two numbers of <see cref="Digits"/> digits, answered with a column-addition
/// trace, one step per digit from the units up, each step naming the carry it takes in:
/// <code>What is 347 + 286?  ->  7+6=13, 4+8+1=13, 3+2+1=6. \boxed{633}</code>
/// The trace is what a small model can learn to follow; the answer needs every step right.</summary>
internal sealed class ArithmeticDomain(int digits) : IExampleGenerator
{
    public string Name => "math";

    public int Digits { get; } = digits >= 2 ? digits : throw new ArgumentOutOfRangeException(nameof(digits), digits, "at least 2 digits");

    public string Description =>
        $"sums of two {Digits}-digit numbers, answered through a column-addition trace (one step per digit, carries written out)";

    public SyntheticExample Next(Random random)
    {
        int low = Pow10(Digits - 1), high = Pow10(Digits);
        int a = random.Next(low, high), b = random.Next(low, high);
        return new SyntheticExample(string.Create(CultureInfo.InvariantCulture, $"What is {a} + {b}?"), Trace(a, b));
    }

    /// <summary>The reply for <c>a + b</c>: the column steps, then the boxed sum.</summary>
    public static string Trace(int a, int b)
    {
        var steps = new List<string>();
        int carry = 0;
        for (int x = a, y = b; x > 0 || y > 0; x /= 10, y /= 10)
        {
            int s = x % 10 + y % 10 + carry;
            steps.Add(carry > 0 ? $"{x % 10}+{y % 10}+{carry}={s}" : $"{x % 10}+{y % 10}={s}");
            carry = s / 10;
        }
        return new StringBuilder().AppendJoin(", ", steps).Append(". \\boxed{").Append((a + b).ToString(CultureInfo.InvariantCulture)).Append('}').ToString();
    }

    private static int Pow10(int n)
    {
        int p = 1;
        for (int i = 0; i < n; i++) p = checked(p * 10);
        return p;
    }
}
