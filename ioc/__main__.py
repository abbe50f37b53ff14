from .beamline import main

main()
