"""The arithmetic of ADCore's plugins, as pure numpy: no EPICS records, no Channel Access.

One module per plugin, each following its ADCore C++ source (ADApp/pluginSrc) and template
(ADApp/Db), so the plugin classes that serve the PVs only hold parameters and pass arrays:

* :mod:`.roi` NDPluginROI: region, binning, reverse, scale, data type, collapsed dimensions;
* :mod:`.process` NDPluginProcess: background, flat field, offset/scale, clipping, the
  recursive filter and its presets;
* :mod:`.transform` NDPluginTransform: the eight rotations/mirrorings;
* :mod:`.overlay` NDPluginOverlay: cross, rectangle, ellipse and text overlays, Set/XOR;
* :mod:`.color_convert` NDPluginColorConvert: mono/RGB1/RGB2/RGB3 conversions;
* :mod:`.circular_buffer` NDPluginCircularBuff: the pre/post-trigger state machine, with
  :mod:`.calc` (EPICS calc expressions through libCom) for TriggerCalc;
* :mod:`.roi_stat` NDPluginROIStat: several regions' statistics and their time series;
* :mod:`.time_series` NDPluginTimeSeries: time series of each signal of 1-D/2-D arrays (Stats1:TS:);
* :mod:`.ndarray`: data types, ADCore's type conversion (a C cast: no clipping), dimensions.

Conventions: arrays are C-ordered numpy arrays, a mono image of ADCore dims [X, Y] has shape
(Y, X) (see :mod:`.ndarray`). No function modifies its input array; an output may be the
input itself or share its memory where ADCore's output has the same values (a full-frame
ROI, Transform None, a Mono-to-Mono conversion), so arrays passed between plugins must
never be modified in place.
"""
