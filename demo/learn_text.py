"""The Learn tab's prose: explanations of what it shows, kept apart from its wiring."""

WHY_ADD_FAILS = """**Why adding loses information.** The exercise hands its sum head `logits + one_hot(n)`:
ten numbers, each a digit score with n's 0/1 flag added on top. Take two drawings of a 7 whose scores differ in
two slots only: the first scores digit 2 at 0.5 and digit 4 at 0.0, the second scores them 1.5 and −1.0. With
n = 2 for the first and n = 4 for the second, both hand the sum head the very same ten numbers (slot 2 reads 1.5,
slot 4 reads 0.0), yet the answers are 9 and 11: no head can get both right. And since scores swing by several
units from one drawing to the next, the +1 that marks n is buried almost everywhere. Concatenation hands over
twenty numbers, ten digit probabilities next to ten n flags, so nothing collides and the head only has to learn
p(sum = s) = p(digit = s − n). Both lanes see the same images in the same order with the same n: when they read
the digit equally well, the gap in the sum is the fusion alone."""
INSPECT_HINT = (
    "<p><em>Draw a digit in the Predict tab, then come back: the 28x28 picture the network was given, "
    "which pixels mattered most, and what each of its two heads was handed appear here.</em></p>"
)
RF_QUESTION = """The exercise's comments claimed these receptive fields; the computed ones differ from the pool on.
**Find the rule the pool breaks**, then open the working below."""
JARGON = (
    "In the tables: **RF** (receptive field) is the side of the input square one value of a layer can see; "
    "**jump** is how many input pixels apart two neighbouring values of a layer are "
    "(RF_out = RF_in + (k−1)·jump_in, jump_out = jump_in·stride, for a kernel of size k); "
    "**(all)** marks an RF that covers the whole 28×28 image. **MACs**: multiply-accumulates, the arithmetic "
    "one image costs; **params**: learned numbers."
)
INSIDE_INTRO = (
    "What each layer of the network does to your drawing. The first two convolutions' outputs, one small "
    "picture per channel, appear here once you have drawn a digit in the Predict tab (brighter = stronger)."
)
