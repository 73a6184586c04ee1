from smartwatch.cli import main

raise SystemExit(main())
