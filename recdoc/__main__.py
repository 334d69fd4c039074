from recdoc.cli import main

main()
