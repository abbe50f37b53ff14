"""Menus (enum strings) and alarm severities the ADCore templates share."""

NO_YES = ("No", "Yes")
DISABLE_ENABLE = ("Disable", "Enable")
OFF_ON = ("Off", "On")
DATA_TYPES = ("Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float32", "Float64")
DATA_TYPES_OUT = DATA_TYPES + ("Automatic",)  # DataTypeOut of ROI and Process: Automatic (-1) keeps the input's
COLOR_MODES = ("Mono", "Bayer", "RGB1", "RGB2", "RGB3", "YUV444", "YUV422", "YUV421")
BAYER_PATTERNS = ("RGGB", "GBRG", "GRBG", "BGGR")
DETECTOR_STATES = ("Idle", "Acquire", "Readout", "Correct", "Saving", "Aborting", "Error", "Waiting", "Initializing",
                   "Disconnected", "Aborted")
COMPRESSIONS = ("None", "N-bit", "szip", "zlib", "Blosc", "BSLZ4", "LZ4", "JPEG")
BLOSC_SHUFFLES = ("None", "Byte", "Bit")
BLOSC_COMPRESSORS = ("BloscLZ", "LZ4", "LZ4HC", "SNAPPY", "ZLIB", "ZSTD")

DETECTOR_STATE_SEVERITIES = ("NO_ALARM",) * 5 + ("MINOR", "MAJOR", "NO_ALARM", "NO_ALARM", "INVALID", "MINOR")

OK_MINOR = ("NO_ALARM", "MINOR")  # ZSV/OSV of the templates' busy/enable readbacks
