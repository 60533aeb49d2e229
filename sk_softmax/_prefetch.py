"""The CPU's prefetch hint for compiled code (a Numba intrinsic).

Shared by the compiled loops that read what they are about to need out of
order: the sparse pass's columns (:mod:`sk_softmax._solvers._sgd._kernel`)
and a dense minibatch's next rows (:mod:`sk_softmax._loss_kernel`).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, array, row, col):
    """Ask the CPU for the cache line of ``array[row, col]`` (a 2-D array),
    to be read soon (LLVM's ``prefetch``: a hint, never a fault, no effect on
    any value)."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        index = [
            context.cast(builder, value, kind, types.intp)
            for value, kind in zip(args[1:], signature.args[1:], strict=True)
        ]
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, index)
        byte = ir.IntType(8).as_pointer()
        word = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte, word, word, word]),
            "llvm.prefetch.p0i8",
        )
        # a read (0), kept in every cache level (3), of data (1)
        hints = [ir.Constant(word, value) for value in (0, 3, 1)]
        builder.call(function, [builder.bitcast(pointer, byte), *hints])
        return context.get_dummy_value()

    return types.void(array, row, col), codegen
