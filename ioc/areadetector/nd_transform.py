"""``Trans1:``: NDTransform.template, the eight rotations and mirrorings of the image (ADCore NDPluginTransform).

The arithmetic is :mod:`.compute.transform`'s; ``Type`` is read when an array arrives, and
ArraySizeX/Y/Z_RBV give the output's size.

ophyd's ``TransformPlugin`` still uses the records of ADCore's R1 template (``Name``,
``Type1``-``Type4`` with their own menu, ``OriginLocation``, ``T1MaxSize0``...): they are
served, so that it connects, and hold what is written, but do nothing (ADCore has ignored
them since R2-1; ``Type`` is the transform).
"""

from __future__ import annotations

from ..records.declare import longin, mbbi, mbbo, stringout
from .compute import transform as compute
from .nd_plugin_base import NDPluginBase
from .ndarray import Frame, post

# The R1 template's menus (ADCore before R2-1).
R1_TYPES = ("None", "RotateCW90", "RotateCCW90", "Rotate180", "Transpose", "TransposeRotate180", "FlipHoriz",
            "FlipVert")
R1_ORIGINS = ("LowerLeft", "UpperLeft", "LowerRight", "UpperRight")
R1 = "ADCore R1 template, ignored since R2-1"


class NDTransform(NDPluginBase):
    """NDTransform.template (which includes NDPluginBase.template), and the R1 records ophyd uses."""

    plugin_type = "NDPluginTransform"
    passes_input_on = False
    autosave_fields = ("Type",)

    type_ = mbbo("Type", "None", compute.TRANSFORMS, doc="the transform: a rotation, a mirroring, or None")
    name_ = stringout("Name", doc=f"name of the transform ({R1})")
    type1 = mbbo("Type1", "None", R1_TYPES, doc=f"first transform ({R1})")
    type2 = mbbo("Type2", "None", R1_TYPES, doc=f"second transform ({R1})")
    type3 = mbbo("Type3", "None", R1_TYPES, doc=f"third transform ({R1})")
    type4 = mbbo("Type4", "None", R1_TYPES, doc=f"fourth transform ({R1})")
    origin_location = mbbo("OriginLocation", "LowerLeft", R1_ORIGINS, doc=f"origin of the image ({R1})")
    origin_location_rbv = mbbi("OriginLocation_RBV", "LowerLeft", R1_ORIGINS, doc=f"origin of the image ({R1})")
    t1_max_size0 = longin("T1MaxSize0", doc=f"size after transform 1, dimension 0 ({R1})")
    t1_max_size1 = longin("T1MaxSize1", doc=f"size after transform 1, dimension 1 ({R1})")
    t1_max_size2 = longin("T1MaxSize2", doc=f"size after transform 1, dimension 2 ({R1})")
    t2_max_size0 = longin("T2MaxSize0", doc=f"size after transform 2, dimension 0 ({R1})")
    t2_max_size1 = longin("T2MaxSize1", doc=f"size after transform 2, dimension 1 ({R1})")
    t2_max_size2 = longin("T2MaxSize2", doc=f"size after transform 2, dimension 2 ({R1})")
    t3_max_size0 = longin("T3MaxSize0", doc=f"size after transform 3, dimension 0 ({R1})")
    t3_max_size1 = longin("T3MaxSize1", doc=f"size after transform 3, dimension 1 ({R1})")
    t3_max_size2 = longin("T3MaxSize2", doc=f"size after transform 3, dimension 2 ({R1})")
    t4_max_size0 = longin("T4MaxSize0", doc=f"size after transform 4, dimension 0 ({R1})")
    t4_max_size1 = longin("T4MaxSize1", doc=f"size after transform 4, dimension 1 ({R1})")
    t4_max_size2 = longin("T4MaxSize2", doc=f"size after transform 4, dimension 2 ({R1})")

    def output_of(self, shape, dtype):
        if len(shape) >= 2 and self.type_.value in ("Rot90", "Rot270", "Rot90Mirror", "Rot270Mirror"):
            shape = (shape[1], shape[0]) + tuple(shape[2:])
        return shape, dtype

    async def process(self, frame: Frame) -> str | None:
        out = compute.transform(frame.data, self.type_.value, frame.color_mode)
        for chan, size in zip((self.array_size_x_rbv, self.array_size_y_rbv, self.array_size_z_rbv),
                              compute.array_size(out, frame.color_mode), strict=True):
            await post(chan, size)
        return await self.pass_on(frame.derived(out))
