from edgeden.cli import main

main()
